"""Housekeeping run by every server and worker process: the reaper for expired leases, the deadline for
tasks that never started, and garbage collection of expired uploads and results."""

from __future__ import annotations

import logging
import threading
import time

from refvid.media.refcache import RefCache
from refvid.runtime import Runtime

log = logging.getLogger(__name__)
REAP_EVERY_S = 1.0
COLLECT_EVERY_S = 60.0


class Maintenance:
    def __init__(self, runtime: Runtime):
        self.runtime = runtime
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="refvid-maintenance", daemon=True)
        self._last_collect = 0.0

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def run_once(self) -> None:
        store, settings = self.runtime.store, self.runtime.settings
        changed = store.reap_expired(settings.max_attempts)
        changed += store.expire_pending(settings.pending_deadline_s)
        for task in changed:
            log.warning("task %s: lease expired → %s (attempt %d)", task.id, task.status, task.attempts)
        if changed:
            self.runtime.waker.notify()
        if time.monotonic() - self._last_collect >= COLLECT_EVERY_S:
            self._last_collect = time.monotonic()
            self.collect_garbage()

    def collect_garbage(self) -> None:
        store, blobs, now = self.runtime.store, self.runtime.blobs, time.time()
        for row in store.delete_expired_files(now):
            blobs.delete_prefix(f"uploads/{row['id']}/")
        for task in store.finished_before(now - self.runtime.settings.result_ttl_s):
            blobs.delete_prefix(f"results/{task.id}/")
            store.clear_result(task.id)
        RefCache.for_settings(self.runtime.settings).prune()

    def _run(self) -> None:
        while not self._stop.wait(REAP_EVERY_S):
            try:
                self.run_once()
            except Exception:
                log.exception("maintenance pass failed; will retry")
