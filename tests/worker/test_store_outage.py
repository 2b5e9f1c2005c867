"""A worker through a database outage: store writes are retried with backoff (`durable`), and a task is never
failed because the store blinked. The store is a real SQLite one whose writes are made to fail for a while;
the engine is a stand-in (`FakeHost`), so only the supervisor's bookkeeping is under test."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import stamina

from refvid.config import Settings
from refvid.engines.base import EngineOutput
from refvid.errors import StoreUnavailable
from refvid.runtime import Runtime
from refvid.tasks.model import TaskSpec, TaskStatus
from refvid.tasks.store import SqlStore
from refvid.worker.lease import Lease, durable
from refvid.worker.supervisor import Worker, WorkerDeps
from tests.support.stores import make_task


@pytest.fixture(autouse=True)
def no_backoff() -> Iterator[None]:
    """Retries without waiting, at most 6 attempts (stamina's test mode)."""
    with stamina.set_testing(True, attempts=6):
        yield


def failing(times: int, write: Callable[..., Any]) -> Callable[..., Any]:
    """`write`, raising StoreUnavailable on its first `times` calls (a database that is down, then back)."""
    calls = {"n": 0}

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] <= times:
            raise StoreUnavailable("the database is unreachable: connection refused")
        return write(*args, **kwargs)

    return wrapper


class FakeHost:
    """An engine host that saves engine state once (as engines do) and writes a small file as its video."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.killed = False

    def run(self, job: Any, on_progress: Callable[[int], None], on_state: Callable[[dict[str, Any]], None],
            stop_reason: Callable[[], str | None], timeout_s: float) -> EngineOutput:
        on_progress(50)
        on_state({**job.state, "step": 1})
        video = self.folder / "video.mp4"
        video.write_bytes(b"\x00" * 64)
        return EngineOutput(video_path=video, seed=int(job.seed), width=64, height=64, duration_s=4.0, fps=24,
                            has_audio=False)

    def kill(self) -> None:
        self.killed = True

    def close(self) -> None:
        pass


def claimed(store: SqlStore) -> Any:
    spec = TaskSpec(model="seedance-2.0-text-to-video", prompt="a lighthouse at dusk", resolution="480p")
    task = make_task()
    store.insert_task(dataclasses.replace(task, spec=spec))
    claim = store.claim_next("w1", [task.engine], 30)
    assert claim is not None
    return claim


def test_durable_retries_only_an_unavailable_store() -> None:
    assert durable(failing(3, lambda: "written")) == "written"
    with pytest.raises(StoreUnavailable):
        durable(failing(100, lambda: "never"))
    calls = []

    def broken() -> None:
        calls.append(1)
        raise ValueError("a bug, not an outage")

    with pytest.raises(ValueError):
        durable(broken)
    assert calls == [1]


def test_a_task_whose_writes_fail_for_a_while_still_completes(settings: Settings, runtime: Runtime,
                                                              tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = runtime.store
    monkeypatch.setattr(store, "save_engine_state", failing(2, store.save_engine_state))
    monkeypatch.setattr(store, "finish", failing(3, store.finish))
    claim = claimed(store)
    worker = Worker(WorkerDeps(settings, store, runtime.blobs, runtime.waker), [claim.task.engine])
    worker.run_claim(claim, FakeHost(tmp_path))  # type: ignore[arg-type]
    task = store.get_task(claim.task.id)
    assert task is not None and task.status == TaskStatus.COMPLETED and task.attempts == 1
    assert task.engine_state["step"] == 1


def test_a_finish_that_landed_before_the_connection_broke_keeps_its_result(
        settings: Settings, runtime: Runtime, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = runtime.store
    original = store.finish
    calls = {"n": 0}

    def commit_then_break(*args: Any, **kwargs: Any) -> bool:
        calls["n"] += 1
        recorded = original(*args, **kwargs)
        if calls["n"] == 1:
            raise StoreUnavailable("server closed the connection unexpectedly")  # after COMMIT
        return recorded

    monkeypatch.setattr(store, "finish", commit_then_break)
    claim = claimed(store)
    worker = Worker(WorkerDeps(settings, store, runtime.blobs, runtime.waker), [claim.task.engine])
    worker.run_claim(claim, FakeHost(tmp_path))  # type: ignore[arg-type]
    task = store.get_task(claim.task.id)
    assert task is not None and task.status == TaskStatus.COMPLETED and task.result is not None
    assert runtime.blobs.exists(task.result["video_key"])  # the retry's "not recorded" did not delete it


def test_a_store_still_down_after_the_retries_hands_the_task_back_instead_of_failing_it(
        settings: Settings, runtime: Runtime, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = runtime.store
    monkeypatch.setattr(store, "finish", failing(1000, store.finish))
    claim = claimed(store)
    host = FakeHost(tmp_path)
    worker = Worker(WorkerDeps(settings, store, runtime.blobs, runtime.waker), [claim.task.engine])
    worker.run_claim(claim, host)  # type: ignore[arg-type]
    task = store.get_task(claim.task.id)
    assert task is not None and task.status == TaskStatus.PENDING and task.error is None
    assert task.attempts == 0  # not the task's fault: the attempt does not count


def test_the_lease_survives_an_outage(settings: Settings, runtime: Runtime,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    store = runtime.store
    claim = claimed(store)
    monkeypatch.setattr(store, "save_engine_state", failing(4, store.save_engine_state))
    monkeypatch.setattr(store, "heartbeat", failing(4, store.heartbeat))
    lease = Lease(store, runtime.waker, claim.task.id, claim.token, settings, threading.Event())
    lease.start()
    try:
        lease.save_state({"seed": 5})
    finally:
        lease.stop()
    assert not lease.lost.is_set() and lease.stop_reason() is None
    assert store.get_task(claim.task.id).engine_state == {"seed": 5}  # type: ignore[union-attr]
