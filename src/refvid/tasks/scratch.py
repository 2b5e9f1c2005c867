"""Scratch that a killed process leaves behind in the data dir: a worker's `work/<task>-<attempt>` folders
(references fetched for a task, an engine's intermediate files) and the API's `tmp/upload-*` files (an upload
being copied into the blob store).

Both are removed by their owner when it finishes, whatever the outcome; only a process killed outright (kill -9,
the OOM killer, a power cut) leaves them, and nothing else ever would: over months of restarts they fill the
disk. The sweep runs with each collection pass, in whichever process runs maintenance on this data dir:

- a work folder goes once its task no longer runs that attempt (finished, retried as a later attempt, deleted),
  and is older than `WORK_GRACE_S` (a claim just made may not be readable as `processing` from here yet);
- an upload scratch file goes once it is older than `UPLOAD_SCRATCH_MAX_AGE_S`: far longer than any upload may
  take (the edge cuts off a body that stops arriving), so it is never one being written.
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Callable
from pathlib import Path

from refvid.tasks.model import TaskStatus
from refvid.tasks.store import SqlStore

log = logging.getLogger(__name__)
WORK_GRACE_S = 120.0
UPLOAD_SCRATCH_MAX_AGE_S = 6 * 3600.0


class ScratchSweeper:
    """Removes what killed processes left under `<data_dir>/work` and `<data_dir>/tmp` (module docstring)."""

    def __init__(self, data_dir: Path, store: SqlStore, clock: Callable[[], float] = time.time):
        self.data_dir, self.store, self._clock = data_dir, store, clock

    def sweep(self) -> int:
        """One pass; returns how many folders and files it removed."""
        removed = self._work_folders() + self._upload_scratch()
        if removed:
            log.info("removed %d scratch folders/files left by killed processes", removed)
        return removed

    def _age_s(self, path: Path) -> float:
        try:
            return self._clock() - path.stat().st_mtime
        except OSError:
            return 0.0  # gone meanwhile: nothing to do

    def _still_running(self, name: str) -> bool:
        task_id, _, attempt = name.rpartition("-")
        if not task_id or not attempt.isdigit():
            return False  # not a name the worker makes
        task = self.store.get_task(task_id)
        return task is not None and task.status == TaskStatus.PROCESSING and task.attempts == int(attempt)

    def _work_folders(self) -> int:
        root, removed = self.data_dir / "work", 0
        for folder in sorted(root.iterdir()) if root.is_dir() else []:
            if self._age_s(folder) < WORK_GRACE_S or self._still_running(folder.name):
                continue
            shutil.rmtree(folder, ignore_errors=True)
            removed += 1
        return removed

    def _upload_scratch(self) -> int:
        root, removed = self.data_dir / "tmp", 0
        for path in sorted(root.glob("upload-*")) if root.is_dir() else []:
            if self._age_s(path) >= UPLOAD_SCRATCH_MAX_AGE_S:
                path.unlink(missing_ok=True)
                removed += 1
        return removed
