"""What a killed worker or API process leaves in the data dir is swept, and nothing a live one uses is touched:
work folders of a task's running attempt stay, those of an earlier attempt, a finished or a deleted task go once
they are past their grace; upload scratch goes only when far older than any upload."""

from __future__ import annotations

import os
import time
from pathlib import Path

from refvid.tasks.scratch import UPLOAD_SCRATCH_MAX_AGE_S, WORK_GRACE_S, ScratchSweeper
from refvid.tasks.store import SqlStore
from tests.support.stores import ENGINE, make_task


def _made(path: Path, age_s: float, *, folder: bool) -> Path:
    if folder:
        (path / "refs").mkdir(parents=True)
        (path / "refs" / "a.png").write_bytes(b"png")
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"part of an upload")
    then = time.time() - age_s
    os.utime(path, (then, then))
    return path


def test_scratch_of_killed_processes_is_swept_and_live_work_kept(store: SqlStore, tmp_path: Path) -> None:
    running, done = make_task(), make_task()
    for task in (running, done):
        store.insert_task(task)
    claim = store.claim_next("worker-1", [ENGINE], lease_s=60)
    assert claim is not None and claim.task.id == running.id
    attempt = claim.task.attempts
    work, old = tmp_path / "work", WORK_GRACE_S + 60
    live = _made(work / f"{running.id}-{attempt}", old, folder=True)
    earlier_attempt = _made(work / f"{running.id}-{attempt - 1}", old, folder=True)
    never_ran_here = _made(work / f"{done.id}-1", old, folder=True)  # pending: not running this attempt
    deleted_task = _made(work / "task-unified-1-gone0000-1", old, folder=True)
    just_claimed = _made(work / "task-unified-2-new00000-1", 5, folder=True)
    stale_upload = _made(tmp_path / "tmp" / "upload-abc123", UPLOAD_SCRATCH_MAX_AGE_S + 60, folder=False)
    fresh_upload = _made(tmp_path / "tmp" / "upload-def456", 60, folder=False)
    other_file = _made(tmp_path / "tmp" / "keep-me", UPLOAD_SCRATCH_MAX_AGE_S + 60, folder=False)

    assert ScratchSweeper(tmp_path, store).sweep() == 4

    assert live.is_dir() and (live / "refs" / "a.png").exists()
    assert just_claimed.is_dir() and fresh_upload.exists() and other_file.exists()
    assert not earlier_attempt.exists() and not never_ran_here.exists() and not deleted_task.exists()
    assert not stale_upload.exists()
    assert ScratchSweeper(tmp_path, store).sweep() == 0  # nothing left to do: a second pass removes nothing


def test_a_data_dir_without_scratch_is_fine(store: SqlStore, tmp_path: Path) -> None:
    assert ScratchSweeper(tmp_path / "fresh", store).sweep() == 0
