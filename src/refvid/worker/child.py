"""The child side of the engine process: build the engine once, then run jobs until told to stop.

Engines run in a spawned child kept warm between tasks (design.md: a crash, a leak or a hung kernel takes down
the child, never the worker). The messages are `refvid.worker.events`; the parent side is `host.EngineHost`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import threading
import time
import traceback
from multiprocessing.connection import Connection
from multiprocessing.synchronize import Event as MpEvent
from typing import Any

from refvid.config import Settings
from refvid.contract import VIDEO_TASK_TYPES
from refvid.engines.base import EngineInput, EngineOutput
from refvid.engines.output import OutputSpec, edited_duration, model_range, resolve_ratio, reworked_video
from refvid.errors import Cancelled, TaskFailure
from refvid.worker.events import (
    STOP_REASONS,
    Done,
    JobCancelled,
    JobFailed,
    JobRequest,
    Progress,
    RunJob,
    StartFailed,
    StateSaved,
    StopChild,
    ToParent,
)


class _ChildContext:
    """The `EngineContext` an engine sees: progress and state go to the parent, cancellation comes from it."""

    def __init__(self, conn: Connection, cancel: MpEvent, reason: Any, state: dict[str, Any]):
        self._conn = conn
        self._cancel = cancel
        self._reason = reason
        self.state = state
        self._last_pct = -1

    def progress(self, pct: float, message: str | None = None) -> None:
        value = int(max(0, min(100, pct)))
        if value > self._last_pct:
            self._last_pct = value
            self._conn.send(Progress(value))

    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def stop_reason(self) -> str | None:
        """Why `cancelled()` is true: "cancel" (the client asked) or "shutdown" (the task will run again,
        e.g. the worker is handing it back). Engines with outside effects (the relay) act on the difference."""
        return STOP_REASONS.get(self._reason.value) if self._cancel.is_set() else None

    def save_state(self, state: dict[str, Any]) -> None:
        self.state = dict(state)
        self._conn.send(StateSaved(self.state))


def resolve_job(engine: Any, job: JobRequest) -> EngineInput:
    """Turn the request into the engine's exact output contract (adaptive ratio, duration -1). Edit and extend
    keep the frame of the video they rework (`adaptive` = its ratio), and edit its length."""
    spec = job.spec
    reworks = spec.omni_reference_task_type in VIDEO_TASK_TYPES
    reworked = reworked_video(spec.prompt, job.references) if reworks else None
    ratio = resolve_ratio(spec.ratio, [reworked] if reworked else job.references)
    if spec.duration > 0:
        duration = spec.duration
    elif spec.omni_reference_task_type == "edit" and reworked:
        duration = edited_duration(spec.model, reworked)
    else:
        shortest_s, longest_s = model_range(spec.model)
        duration = engine.choose_duration(job.references, max_s=longest_s, min_s=shortest_s)
    output = OutputSpec.build(spec.resolution, ratio, duration, spec.generate_audio, job.seed,
                              container=spec.output_format)
    return EngineInput(job.task_id, spec.model, spec.prompt, job.references, output, job.work_dir,
                       requested_ratio=spec.ratio, passthrough=spec.passthrough(),
                       task_type=spec.omni_reference_task_type)


def delivered(made: EngineOutput, job: EngineInput) -> EngineOutput:
    """The engine's output in the container the task asked for (`media.conform.in_container`): the shared last
    step of every engine, so each delivers MP4 and MOV alike."""
    from refvid.media.conform import in_container  # PyAV: only in the processes that run engines

    if not made.video_path.is_file():  # nothing to convert: storing the output reports the missing file
        return made
    path = in_container(made.video_path, job.output.container)
    return made if path == made.video_path else dataclasses.replace(made, video_path=path)


def _watch_parent(parent_pid: int) -> None:
    # If the worker is killed (kill -9), its children must not live on as orphans holding GPUs.
    while True:
        if os.getppid() != parent_pid:
            os._exit(0)
        time.sleep(0.5)


def _run(engine: Any, job: JobRequest, ctx: _ChildContext) -> ToParent:
    """One job → its one answer; an engine bug fails the task, not the process."""
    try:
        request = resolve_job(engine, job)
        return Done(delivered(engine.generate(request, ctx), request))
    except Cancelled:
        return JobCancelled()
    except TaskFailure as exc:
        return JobFailed(exc.code, exc.message)
    except Exception as exc:
        traceback.print_exc()
        return JobFailed("generation_failed", f"the engine failed: {type(exc).__name__}: {exc}")


def child_main(conn: Connection, cancel: MpEvent, reason: Any, settings_json: str, engine_name: str,
               parent_pid: int) -> None:
    """The engine process's entry point (spawned by `EngineHost`)."""
    from refvid.engines.registry import build_engine

    threading.Thread(target=_watch_parent, args=(parent_pid,), daemon=True).start()
    try:
        engine = build_engine(engine_name, Settings.model_validate_json(settings_json))
    except Exception as exc:  # a missing or broken engine fails its tasks at once, without retries
        traceback.print_exc()
        conn.send(StartFailed(f"engine {engine_name!r} could not start: {type(exc).__name__}: {exc}"))
        return
    while True:
        try:
            message = conn.recv()
        except EOFError:
            break
        match message:
            case RunJob(job=job):
                conn.send(_run(engine, job, _ChildContext(conn, cancel, reason, job.state)))
            case StopChild():
                break
            case _:
                raise TypeError(f"unexpected message for the engine process: {message!r}")
    close = getattr(engine, "close", None)  # optional: engines holding a GPU or a session release it
    if callable(close):
        with contextlib.suppress(Exception):
            close()
