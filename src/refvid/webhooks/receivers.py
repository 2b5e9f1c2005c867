"""Fair webhook delivery: a concurrency cap and a circuit breaker per lane, a key's deliveries to one receiver.

A receiver is the origin a callback URL points at (`scheme://host:port`, `outbox.receiver_of`); a lane is one
API key's deliveries to one receiver. Keying both by receiver alone let one key stall another's webhooks on a
shared origin (a webhook relay, an automation platform's hook host, one company's endpoint for several keys):
key A's failing callbacks opened the breaker for the whole origin for up to 15 min, and A's hanging ones
filled the origin's cap, so key B's events waited 30-60 s or more (issue 27; spec §8). Now:

- **cap per lane**: at most `cap` deliveries of one lane run at once (a quarter of the threads, at least one),
  so a hanging receiver only ever uses its own share of a key's threads and the others keep flowing;
- **circuit breaker per lane**: after `FAILURES_TO_OPEN` consecutive failures (5xx, 429, timeouts, refused
  connections: the receiver is down, not deciding) the lane rests for a cooldown (30 s, doubling up to 15 min)
  during which none of its events is attempted, and they spend none of their retries; then one probe goes out
  (half-open): success closes the breaker, failure re-opens it for longer. A 4xx other than 429 means the
  receiver is up and chose to refuse: it does not count. Another key's lane to the same origin is untouched:
  a shared relay that fails one key's path may well serve another's;
- **ceiling per receiver**, a backstop: all lanes together run at most `ceiling` deliveries to one origin,
  and `ceiling` is above `cap` (twice it), so no single key can fill it; room is left for other keys.

The state lives in memory, per dispatcher (each API process runs one); the outbox stays the durable truth.
The claimer thread of `WebhookDispatcher` asks `blocked()` and `choose()`; delivery threads report `started`
and `finished`. Everything is under one lock.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

FAILURES_TO_OPEN = 5
FIRST_COOLDOWN_S = 30.0
MAX_COOLDOWN_S = 900.0

Lane = tuple[str, str]
"""(owner, receiver): one API key's deliveries to one origin."""


def counts_against_receiver(status: int | None) -> bool:
    """Whether an attempt's outcome says the receiver is unwell (None: no answer at all)."""
    return status is None or status >= 500 or status == 429


def lane_of(message: dict[str, Any]) -> Lane:
    """The lane of an outbox row (it carries `owner` and `receiver`)."""
    return str(message["owner"]), str(message["receiver"])


@dataclass
class _Lane:
    in_flight: int = 0
    failures: int = 0
    opens: int = 0
    open_until: float = 0.0


@dataclass(frozen=True)
class Blocked:
    """What a claim must skip now: full or resting lanes, and receivers at their ceiling."""

    lanes: list[Lane] = field(default_factory=list)
    receivers: list[str] = field(default_factory=list)


class ReceiverGate:
    """Admission of deliveries per lane and receiver: the cap, the breaker, the ceiling (module docstring)."""

    def __init__(self, cap: int, ceiling: int | None = None, clock: Callable[[], float] = time.monotonic):
        self.cap = max(1, cap)
        self.ceiling = max(self.cap + 1, ceiling if ceiling is not None else 2 * self.cap)
        self._clock = clock
        self._lock = threading.Lock()
        self._lanes: dict[Lane, _Lane] = {}
        self._receiver_in_flight: dict[str, int] = {}

    def _allowed(self, state: _Lane, now: float) -> int:
        """How many more deliveries this lane may start now (its receiver's ceiling aside)."""
        if state.open_until > now:
            return 0
        if state.opens and state.failures >= FAILURES_TO_OPEN:  # half-open: one probe at a time
            return max(0, 1 - state.in_flight)
        return max(0, self.cap - state.in_flight)

    def blocked(self) -> Blocked:
        """Lanes that may not start a delivery now (full or resting) and receivers at their ceiling: a claim
        skips their events."""
        now = self._clock()
        with self._lock:
            return Blocked([lane for lane, state in self._lanes.items() if self._allowed(state, now) == 0],
                           [name for name, count in self._receiver_in_flight.items() if count >= self.ceiling])

    def choose(self, candidates: Sequence[dict[str, Any]], limit: int) -> list[str]:
        """From due messages (oldest first), the ids to claim: at most `limit`, within each lane's room and
        each receiver's ceiling."""
        now = self._clock()
        lane_room: dict[Lane, int] = {}
        receiver_room: dict[str, int] = {}
        chosen: list[str] = []
        with self._lock:
            for message in candidates:
                if len(chosen) >= limit:
                    break
                lane = lane_of(message)
                receiver = lane[1]
                if lane not in lane_room:
                    lane_room[lane] = self._allowed(self._lanes.get(lane, _Lane()), now)
                if receiver not in receiver_room:
                    receiver_room[receiver] = self.ceiling - self._receiver_in_flight.get(receiver, 0)
                if lane_room[lane] > 0 and receiver_room[receiver] > 0:
                    lane_room[lane] -= 1
                    receiver_room[receiver] -= 1
                    chosen.append(str(message["id"]))
        return chosen

    def started(self, lane: Lane) -> None:
        with self._lock:
            self._lanes.setdefault(lane, _Lane()).in_flight += 1
            self._receiver_in_flight[lane[1]] = self._receiver_in_flight.get(lane[1], 0) + 1

    def finished(self, lane: Lane, status: int | None, delivered: bool) -> None:
        """Record one attempt's outcome (`status`: the HTTP status, None without an answer)."""
        with self._lock:
            left = self._receiver_in_flight.get(lane[1], 1) - 1
            if left > 0:
                self._receiver_in_flight[lane[1]] = left
            else:
                self._receiver_in_flight.pop(lane[1], None)
            state = self._lanes.setdefault(lane, _Lane())
            state.in_flight = max(0, state.in_flight - 1)
            now = self._clock()
            if state.open_until > now and not delivered:
                return  # an attempt started before the breaker opened: already counted in the rest
            if delivered or not counts_against_receiver(status):
                state.failures, state.opens, state.open_until = 0, 0, 0.0
            else:
                state.failures += 1
                if state.failures >= FAILURES_TO_OPEN:
                    state.open_until = now + min(MAX_COOLDOWN_S, FIRST_COOLDOWN_S * 2**state.opens)
                    state.opens += 1
            if state.in_flight == 0 and state.failures == 0:
                del self._lanes[lane]  # healthy and idle: nothing to remember

    def is_open(self, lane: Lane) -> bool:
        """Whether the lane is resting now (metrics, tests)."""
        with self._lock:
            state = self._lanes.get(lane)
            return state is not None and state.open_until > self._clock()
