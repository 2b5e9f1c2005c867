"""Housekeeping run by every server and worker process: the reaper for expired leases, the deadlines (a
task's own `execution_expires_after`, pending or running, and the server's for tasks that never started), and
garbage collection of expired uploads and results (`collection.py`)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence

from refvid.config import Settings
from refvid.errors import StoreUnavailable
from refvid.storage.base import BlobStore
from refvid.tasks.collection import CollectionPass, GarbageCollector
from refvid.tasks.store import SqlStore
from refvid.tasks.wakeup import Waker

log = logging.getLogger(__name__)
REAP_EVERY_S = 1.0


class Maintenance:
    """`collectors` run with each garbage collection pass: caches that other layers own (the worker's
    reference cache) are pruned on the same schedule without this module knowing them."""

    def __init__(self, settings: Settings, store: SqlStore, blobs: BlobStore, waker: Waker,
                 collectors: Sequence[Callable[[], object]] = ()):
        self.settings, self.store, self.blobs, self.waker = settings, store, blobs, waker
        self.collectors = tuple(collectors)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="refvid-maintenance", daemon=True)
        self._last_collect = float("-inf")
        self.collector = GarbageCollector(store, blobs, settings.result_ttl_s)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def run_once(self) -> None:
        store, settings = self.store, self.settings
        overdue = store.expire_overdue() + store.expire_pending(settings.pending_deadline_s)
        for task in overdue:
            log.warning("task %s: past its deadline → expired", task.id)
        changed = store.reap_expired(settings.max_attempts)
        for task in changed:
            log.warning("task %s: lease expired → %s (attempt %d)", task.id, task.status, task.attempts)
        changed += overdue
        if changed:
            self.waker.notify()
        if time.monotonic() - self._last_collect >= self.settings.collect_interval_s:
            self._last_collect = time.monotonic()  # a failing pass (storage down) waits for the next interval
            if not self.collect_garbage().complete:
                self._last_collect = float("-inf")  # more remain: go on at the next tick

    def collect_garbage(self) -> CollectionPass:
        """One bounded collection pass, then the other layers' collectors."""
        report = self.collector.run_pass()
        for collect in self.collectors:
            collect()
        return report

    def _run(self) -> None:
        while not self._stop.wait(REAP_EVERY_S):
            try:
                self.run_once()
            except StoreUnavailable as exc:  # a database outage is not a bug: one line, no traceback
                log.warning("maintenance pass skipped: %s", exc)
            except Exception:
                log.exception("maintenance pass failed; will retry")
