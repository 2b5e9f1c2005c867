"""The typed parent/child engine protocol (refvid.worker.events): the child's answers to each job outcome, the
stop message, and an engine that cannot start, seen from the parent (`EngineHost`)."""

from __future__ import annotations

import multiprocessing
import os
import pickle
import threading
from collections.abc import Iterator
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import pytest

from refvid.config import Settings
from refvid.engines.base import EngineInput, EngineOutput
from refvid.errors import Cancelled, TaskFailure
from refvid.tasks.model import TaskSpec
from refvid.worker import child
from refvid.worker.events import (
    Done,
    JobCancelled,
    JobFailed,
    JobRequest,
    Progress,
    RunJob,
    StartFailed,
    StateSaved,
    StopChild,
)
from refvid.worker.host import EngineHost


class ScriptedEngine:
    """Does what the prompt says: `ok`, `fail`, `bug` or `cancel`."""

    closed = False

    def generate(self, job: EngineInput, ctx: Any) -> EngineOutput:
        ctx.progress(40)
        ctx.progress(30)  # progress only goes up: not sent
        ctx.save_state({"upstream": "t-1"})
        if job.prompt == "fail":
            raise TaskFailure("no faces allowed", code="content_rejected")
        if job.prompt == "bug":
            raise ZeroDivisionError("oops")
        if job.prompt == "cancel":
            raise Cancelled()
        return EngineOutput(job.work_dir / "video.mp4", seed=7, width=64, height=36, duration_s=5.0, fps=24,
                            has_audio=False)

    def close(self) -> None:
        ScriptedEngine.closed = True


def job(prompt: str, tmp_path: Path) -> JobRequest:
    spec = TaskSpec(model="seedance-2.0-reference-to-video", prompt=prompt, resolution="480p", ratio="16:9",
                    duration=5, generate_audio=False)
    return JobRequest("task-unified-1-protocol", spec, 7, [], tmp_path, {})


@pytest.fixture
def pipe(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Connection, threading.Thread]]:
    """`child_main` on a thread of this process, with the scripted engine, talking over a real pipe."""
    monkeypatch.setattr("refvid.engines.registry.build_engine", lambda name, settings: ScriptedEngine())
    ScriptedEngine.closed = False
    parent, child_end = multiprocessing.Pipe()
    ctx = multiprocessing.get_context("spawn")
    cancel, reason = ctx.Event(), ctx.Value("i", 0)
    thread = threading.Thread(target=child.child_main, daemon=True, args=(
        child_end, cancel, reason, Settings().model_dump_json(), "scripted", os.getppid()))
    thread.start()
    yield parent, thread
    parent.close()


def answers(conn: Connection) -> list[Any]:
    """Every message of one job, up to and including its final answer."""
    got = [conn.recv()]
    while isinstance(got[-1], Progress | StateSaved):
        got.append(conn.recv())
    return got


def test_each_outcome_is_one_typed_answer(pipe: tuple[Connection, threading.Thread], tmp_path: Path) -> None:
    conn, thread = pipe
    conn.send(RunJob(job("ok", tmp_path)))
    *updates, done = answers(conn)
    assert updates == [Progress(40), StateSaved({"upstream": "t-1"})]
    assert isinstance(done, Done) and (done.output.seed, done.output.width) == (7, 64)
    conn.send(RunJob(job("fail", tmp_path)))
    assert answers(conn)[-1] == JobFailed("content_rejected", "no faces allowed")
    conn.send(RunJob(job("bug", tmp_path)))  # an engine bug fails the job; the process keeps serving
    failed = answers(conn)[-1]
    assert isinstance(failed, JobFailed) and failed.code == "generation_failed"
    assert "ZeroDivisionError" in failed.message
    conn.send(RunJob(job("cancel", tmp_path)))
    assert answers(conn)[-1] == JobCancelled()
    conn.send(StopChild())
    thread.join(5)
    assert not thread.is_alive() and ScriptedEngine.closed


def test_messages_are_frozen_and_survive_the_pipe(tmp_path: Path) -> None:
    for message in (RunJob(job("ok", tmp_path)), StopChild(), StartFailed("x"), Progress(3), JobCancelled(),
                    JobFailed("c", "m")):
        assert pickle.loads(pickle.dumps(message)) == message
    with pytest.raises(AttributeError):
        Progress(3).pct = 4  # type: ignore[misc]


def test_an_engine_that_cannot_start_fails_the_task_at_once(tmp_path: Path) -> None:
    host = EngineHost("no-such-engine", Settings(data_dir=tmp_path))
    try:
        with pytest.raises(TaskFailure) as failure:
            host.run(job("ok", tmp_path), on_progress=lambda _: None, on_state=lambda _: None,
                     stop_reason=lambda: None, timeout_s=60)
    finally:
        host.close()
    assert failure.value.code == "generation_failed"
    assert "could not start" in failure.value.message and "no-such-engine" in failure.value.message
