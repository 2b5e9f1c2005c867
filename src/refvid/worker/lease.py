"""The lease of a running task: heartbeats, progress, and noticing cancellation or lease loss; and
`durable`, which retries the worker's store writes through a database outage.

A write of the worker names its lease token (the fencing token), so repeating it is safe: a write that did
commit before the connection broke matches nothing the second time (and says so), one that did not commits
now. A blink of the database therefore costs a task some seconds, never its outcome.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

import stamina

from refvid.config import Settings
from refvid.errors import Cancelled, LeaseLost, StoreUnavailable
from refvid.tasks.store import SqlStore
from refvid.tasks.wakeup import Waker

log = logging.getLogger(__name__)
CANCEL_CHECK_S = 0.25
#: how long a worker keeps retrying one store write before giving the task up to the reaper
STORE_RETRY_S = 120.0
T = TypeVar("T")


def durable(write: Callable[[], T], timeout_s: float = STORE_RETRY_S) -> T:
    """`write()`, retried with exponential backoff (0.25 s up to 4 s, jittered) while the store is
    unavailable, for up to `timeout_s`; then `StoreUnavailable` propagates."""
    for attempt in stamina.retry_context(on=StoreUnavailable, attempts=None, timeout=timeout_s,
                                         wait_initial=0.25, wait_max=4.0, wait_jitter=0.5):
        with attempt:
            return write()
    raise StoreUnavailable("retries exhausted")  # pragma: no cover  (the loop returns or raises)


class HandBack(Exception):
    """The worker is shutting down: the task goes back to the queue."""


class Lease:
    """Renews the lease every `heartbeat_s` (storing progress), and between heartbeats checks the cancel
    flag cheaply, waking early on notifications, so a cancel reaches the engine well within 2 s."""

    def __init__(self, store: SqlStore, waker: Waker, task_id: str, token: str, settings: Settings,
                 hand_back: threading.Event):
        self._store, self._waker = store, waker
        self.task_id, self.token = task_id, token
        self._settings = settings
        self._hand_back = hand_back
        self._progress = 0
        self._cancellable = True
        self.cancelled = threading.Event()
        self.lost = threading.Event()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"lease-{task_id}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._done.set()
        self._thread.join(5)

    def set_progress(self, pct: float) -> None:
        self._progress = max(self._progress, int(pct))

    def set_cancellable(self, value: bool) -> None:
        self._cancellable = value

    def save_state(self, state: dict[str, Any]) -> None:
        if "cancellable" in state:
            self._cancellable = bool(state["cancellable"])
        if not durable(lambda: self._store.save_engine_state(self.task_id, self.token, state)):
            self.lost.set()

    def should_stop(self) -> bool:
        return self.cancelled.is_set() or self.lost.is_set() or self._hand_back.is_set()

    def stop_reason(self) -> str | None:
        """"cancel" (the client asked), "shutdown" (handed back or lease lost: the task lives on), or None."""
        if self.cancelled.is_set():
            return "cancel"
        if self.lost.is_set() or self._hand_back.is_set():
            return "shutdown"
        return None

    def raise_if_stopped(self) -> None:
        """Raise the exception that says why this task must stop now, if it must."""
        if self.lost.is_set():
            raise LeaseLost()
        if self._hand_back.is_set():
            raise HandBack()
        if self.cancelled.is_set():
            raise Cancelled()

    def _run(self) -> None:
        next_beat = 0.0
        store_down = False  # log an outage once, and its end once
        while not self._done.is_set():
            generation = self._waker.generation()
            try:
                now = time.monotonic()
                if now >= next_beat:
                    beat = self._store.heartbeat(self.task_id, self.token, self._progress,
                                                 self._settings.lease_s, self._cancellable)
                    next_beat = now + self._settings.heartbeat_s
                    if not beat.ok:
                        # A task that ended elsewhere with a stop asked (its deadline passed, or cancelled) is
                        # stopped as a cancel, so the engine undoes its outside effects (an upstream job).
                        if self._store.cancel_requested(self.task_id):
                            self.cancelled.set()
                        self.lost.set()
                        return
                    if beat.cancel_requested:
                        self.cancelled.set()
                elif not self.cancelled.is_set() and self._store.cancel_requested(self.task_id):
                    self.cancelled.set()
            except StoreUnavailable as exc:  # an outage shorter than the lease costs nothing: keep trying
                if not store_down:
                    log.warning("heartbeat for %s: %s; will retry", self.task_id, exc)
                store_down = True
            except Exception:
                log.exception("heartbeat for %s failed; will retry", self.task_id)
            else:
                if store_down:
                    log.info("heartbeat for %s: the store answers again", self.task_id)
                store_down = False
            self._waker.wait_after(generation, CANCEL_CHECK_S)
