"""Per-receiver fairness for webhook delivery: a concurrency cap and a circuit breaker per receiver.

A receiver is the origin a callback URL points at (`scheme://host:port`, `outbox.receiver_of`). Without
this, one receiver that never answers holds every delivery thread for the full timeout and every other key's
events wait behind it (issue 14: 29.5 s). With it:

- **cap**: at most `cap` deliveries to one receiver run at once (a quarter of the threads, at least one), so
  a hanging receiver only ever uses its own share and the others keep flowing;
- **circuit breaker**: after `FAILURES_TO_OPEN` consecutive failures (5xx, 429, timeouts, refused
  connections: the receiver is down, not deciding) the receiver rests for a cooldown (30 s, doubling up to
  15 min) during which none of its events is attempted, and they spend none of their retries; then one
  probe goes out (half-open): success closes the breaker, failure re-opens it for longer. A 4xx other than
  429 means the receiver is up and chose to refuse: it does not count.

The state lives in memory, per dispatcher (each API process runs one); the outbox stays the durable truth.
The claimer thread of `WebhookDispatcher` asks `blocked()` and `choose()`; delivery threads report `started`
and `finished`. Everything is under one lock.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

FAILURES_TO_OPEN = 5
FIRST_COOLDOWN_S = 30.0
MAX_COOLDOWN_S = 900.0


def counts_against_receiver(status: int | None) -> bool:
    """Whether an attempt's outcome says the receiver is unwell (None: no answer at all)."""
    return status is None or status >= 500 or status == 429


@dataclass
class _Receiver:
    in_flight: int = 0
    failures: int = 0
    opens: int = 0
    open_until: float = 0.0


class ReceiverGate:
    """Admission of deliveries per receiver: the cap and the circuit breaker (see the module docstring)."""

    def __init__(self, cap: int, clock: Callable[[], float] = time.monotonic):
        self.cap = max(1, cap)
        self._clock = clock
        self._lock = threading.Lock()
        self._receivers: dict[str, _Receiver] = {}

    def _allowed(self, state: _Receiver, now: float) -> int:
        """How many more deliveries this receiver may start now."""
        if state.open_until > now:
            return 0
        if state.opens and state.failures >= FAILURES_TO_OPEN:  # half-open: one probe at a time
            return max(0, 1 - state.in_flight)
        return max(0, self.cap - state.in_flight)

    def blocked(self) -> list[str]:
        """Receivers that may not start a delivery now (full or resting): a claim skips their events."""
        now = self._clock()
        with self._lock:
            return [name for name, state in self._receivers.items() if self._allowed(state, now) == 0]

    def choose(self, candidates: Sequence[dict[str, Any]], limit: int) -> list[str]:
        """From due messages (oldest first), the ids to claim: at most `limit`, within each receiver's room."""
        now = self._clock()
        room: dict[str, int] = {}
        chosen: list[str] = []
        with self._lock:
            for message in candidates:
                if len(chosen) >= limit:
                    break
                name = str(message["receiver"])
                if name not in room:
                    room[name] = self._allowed(self._receivers.get(name, _Receiver()), now)
                if room[name] > 0:
                    room[name] -= 1
                    chosen.append(str(message["id"]))
        return chosen

    def started(self, receiver: str) -> None:
        with self._lock:
            self._receivers.setdefault(receiver, _Receiver()).in_flight += 1

    def finished(self, receiver: str, status: int | None, delivered: bool) -> None:
        """Record one attempt's outcome (`status`: the HTTP status, None without an answer)."""
        with self._lock:
            state = self._receivers.setdefault(receiver, _Receiver())
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
                del self._receivers[receiver]  # healthy and idle: nothing to remember

    def is_open(self, receiver: str) -> bool:
        """Whether the receiver is resting now (metrics, tests)."""
        with self._lock:
            state = self._receivers.get(receiver)
            return state is not None and state.open_until > self._clock()
