"""Engines run in a spawned child process, kept warm between tasks.

Parent → child: ("run", JobRequest) | ("stop",). Child → parent: ("ready",), ("progress", pct),
("state", dict), ("done", EngineOutput), ("cancelled",), ("failed", code, message).
A crash, a leak or a hung kernel takes down the child, never the worker; cancellation sets a shared event
the engine polls, and the parent kills the child if it does not stop within the grace period.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing as mp
import os
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.synchronize import Event as MpEvent
from pathlib import Path
from typing import Any

from refvid.config import Settings
from refvid.engines.base import EngineInput, EngineOutput
from refvid.engines.output import OutputSpec, resolve_ratio
from refvid.errors import Cancelled, TaskFailure
from refvid.media.info import Reference
from refvid.tasks.model import TaskSpec

log = logging.getLogger(__name__)
CANCEL_GRACE_S = 1.5


class ChildCrashed(Exception):
    """The engine process died without an answer."""


@dataclass(frozen=True)
class JobRequest:
    task_id: str
    spec: TaskSpec
    seed: int
    references: list[Reference]
    work_dir: Path
    state: dict[str, Any]


STOP_REASONS = {1: "cancel", 2: "shutdown"}


class _ChildContext:
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
            self._conn.send(("progress", value))

    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def stop_reason(self) -> str | None:
        """Why `cancelled()` is true: "cancel" (the client asked) or "shutdown" (the task will run again,
        e.g. the worker is handing it back). Engines with outside effects (the relay) act on the difference."""
        return STOP_REASONS.get(self._reason.value) if self._cancel.is_set() else None

    def save_state(self, state: dict[str, Any]) -> None:
        self.state = dict(state)
        self._conn.send(("state", self.state))


def resolve_job(engine: Any, job: JobRequest) -> EngineInput:
    """Turn the request into the engine's exact output contract (adaptive ratio, duration -1)."""
    spec = job.spec
    ratio = resolve_ratio(spec.ratio, job.references)
    duration = spec.duration if spec.duration > 0 else engine.choose_duration(job.references)
    output = OutputSpec.build(spec.resolution, ratio, duration, spec.generate_audio, job.seed)
    return EngineInput(job.task_id, spec.model, spec.prompt, job.references, output, job.work_dir,
                       requested_ratio=spec.ratio)


def _watch_parent(parent_pid: int) -> None:
    # If the worker is killed (kill -9), its children must not live on as orphans holding GPUs.
    while True:
        if os.getppid() != parent_pid:
            os._exit(0)
        time.sleep(0.5)


def child_main(conn: Connection, cancel: MpEvent, reason: Any, settings_json: str, engine_name: str,
               parent_pid: int) -> None:
    from refvid.engines.registry import build_engine

    threading.Thread(target=_watch_parent, args=(parent_pid,), daemon=True).start()
    try:
        engine = build_engine(engine_name, Settings.model_validate_json(settings_json))
    except Exception as exc:  # a missing or broken engine fails its tasks at once, without retries
        traceback.print_exc()
        conn.send(("start_failed", f"engine {engine_name!r} could not start: {type(exc).__name__}: {exc}"))
        return
    conn.send(("ready",))
    while True:
        try:
            message = conn.recv()
        except EOFError:
            break
        if message[0] == "stop":
            break
        job: JobRequest = message[1]
        ctx = _ChildContext(conn, cancel, reason, job.state)
        try:
            conn.send(("done", engine.generate(resolve_job(engine, job), ctx)))
        except Cancelled:
            conn.send(("cancelled",))
        except TaskFailure as exc:
            conn.send(("failed", exc.code, exc.message))
        except Exception as exc:  # an engine bug must fail the task, not the process
            traceback.print_exc()
            conn.send(("failed", "generation_failed", f"the engine failed: {type(exc).__name__}: {exc}"))
    with contextlib.suppress(Exception):
        engine.close()  # type: ignore[attr-defined]


class EngineHost:
    """The parent's handle on one warm engine process."""

    def __init__(self, engine_name: str, settings: Settings):
        self.engine_name = engine_name
        self.settings = settings
        self._ctx = mp.get_context("spawn")
        self._proc: Any = None
        self._conn: Connection | None = None
        self._cancel = self._ctx.Event()
        self._reason = self._ctx.Value("i", 0)  # STOP_REASONS key, set before the cancel event

    def _start(self) -> Connection:
        parent_conn, child_conn = self._ctx.Pipe()
        self._cancel.clear()
        self._proc = self._ctx.Process(
            target=child_main, name=f"refvid-engine-{self.engine_name}", daemon=True,
            args=(child_conn, self._cancel, self._reason, self.settings.model_dump_json(), self.engine_name,
                  os.getpid()),
        )
        self._proc.start()
        child_conn.close()
        self._conn = parent_conn
        return parent_conn

    def _alive(self) -> bool:
        return self._proc is not None and self._proc.is_alive()

    def run(self, job: JobRequest, on_progress: Callable[[int], None], on_state: Callable[[dict[str, Any]], None],
            stop_reason: Callable[[], str | None], timeout_s: float) -> EngineOutput:
        """Run one job. `stop_reason()` says when (and why) to stop: "cancel" or "shutdown".
        Raises Cancelled, TaskFailure, or ChildCrashed."""
        conn = self._conn if self._alive() and self._conn is not None else self._start()
        self._cancel.clear()
        conn.send(("run", job))
        deadline = time.monotonic() + timeout_s
        kill_at: float | None = None
        while True:
            if conn.poll(0.05):
                try:
                    message = conn.recv()
                except (EOFError, OSError):
                    message = None
                if message is None:
                    self._reap()
                    raise ChildCrashed(self._exit_text())
                kind = message[0]
                if kind == "progress":
                    on_progress(int(message[1]))
                elif kind == "state":
                    on_state(message[1])
                elif kind == "done":
                    return message[1]  # type: ignore[no-any-return]
                elif kind == "cancelled":
                    raise Cancelled()
                elif kind == "failed":
                    raise TaskFailure(message[2], code=message[1])
                elif kind == "start_failed":
                    self._reap()
                    raise TaskFailure(message[1], code="generation_failed")
                continue
            if not self._alive():
                self._reap()
                raise ChildCrashed(self._exit_text())
            now = time.monotonic()
            reason = stop_reason() if kill_at is None else None
            if reason is not None:
                self._reason.value = {v: k for k, v in STOP_REASONS.items()}.get(reason, 1)
                self._cancel.set()
                kill_at = now + CANCEL_GRACE_S
            if kill_at is not None and now >= kill_at:
                self.kill()
                raise Cancelled()
            if now >= deadline:
                self.kill()
                raise TaskFailure(f"generation took longer than {timeout_s:.0f} s", code="generation_timeout")

    def _exit_text(self) -> str:
        code = self._proc.exitcode if self._proc is not None else None
        return f"the engine process exited unexpectedly (exit code {code})"

    def _reap(self) -> None:
        if self._proc is not None:
            self._proc.join(timeout=1)
        self._conn = None

    def kill(self) -> None:
        if self._proc is not None and self._proc.is_alive():
            self._proc.kill()
            self._proc.join(timeout=5)
        self._reap()

    def close(self) -> None:
        if self._alive() and self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.send(("stop",))
            self._proc.join(timeout=3)
        self.kill()
