"""The parent side of the engine process: `EngineHost` spawns the child (`child.child_main`), sends it jobs and
turns its answers (`refvid.worker.events`) into a return value or an exception.

Cancellation: the host writes the stop reason, sets the shared cancel event the engine polls, and kills the
child if it has not answered within `CANCEL_GRACE_S`. A child that dies without an answer is `ChildCrashed`.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing as mp
import os
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

from refvid.config import Settings
from refvid.engines.base import EngineOutput
from refvid.errors import Cancelled, TaskFailure
from refvid.worker.child import child_main
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
)

log = logging.getLogger(__name__)
CANCEL_GRACE_S = 1.5
REASON_CODES = {reason: code for code, reason in STOP_REASONS.items()}


class ChildCrashed(Exception):
    """The engine process died without an answer."""


class EngineHost:
    """The parent's handle on one warm engine process."""

    def __init__(self, engine_name: str, settings: Settings):
        self.engine_name = engine_name
        self.settings = settings
        self._ctx = mp.get_context("spawn")
        self._proc: Any = None
        self._conn: Connection | None = None
        self._exit_code: int | None = None
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
        conn.send(RunJob(job))
        deadline = time.monotonic() + timeout_s
        kill_at: float | None = None
        while True:
            if conn.poll(0.05):
                try:
                    message = conn.recv()
                except (EOFError, OSError):
                    self._reap()
                    raise ChildCrashed(self._exit_text()) from None
                match message:
                    case Progress(pct=pct):
                        on_progress(pct)
                    case StateSaved(state=state):
                        on_state(state)
                    case Done(output=output):
                        return output
                    case JobCancelled():
                        raise Cancelled()
                    case JobFailed(code=code, message=text):
                        raise TaskFailure(text, code=code)
                    case StartFailed(message=text):
                        self._reap()
                        raise TaskFailure(text, code="generation_failed")
                    case _:
                        log.warning("engine %s sent an unknown message: %r", self.engine_name, message)
                continue
            if not self._alive():
                self._reap()
                raise ChildCrashed(self._exit_text())
            now = time.monotonic()
            reason = stop_reason() if kill_at is None else None
            if reason is not None:
                self._reason.value = REASON_CODES.get(reason, 1)
                self._cancel.set()
                kill_at = now + CANCEL_GRACE_S
            if kill_at is not None and now >= kill_at:
                self.kill()
                raise Cancelled()
            if now >= deadline:
                self.kill()
                raise TaskFailure(f"generation took longer than {timeout_s:.0f} s", code="generation_timeout")

    def _exit_text(self) -> str:
        return f"the engine process exited unexpectedly (exit code {self._exit_code})"

    def _reap(self) -> None:
        """Join a child that ended and release its pipe and sentinel now, not whenever the garbage collector
        gets round to them: with an engine that crashes on every task they would pile up per task."""
        if self._conn is not None:
            with contextlib.suppress(OSError):
                self._conn.close()
            self._conn = None
        if self._proc is not None:
            self._proc.join(timeout=1)
            self._exit_code = self._proc.exitcode
            if self._exit_code is not None:
                self._proc.close()
                self._proc = None

    def kill(self) -> None:
        if self._proc is not None and self._proc.is_alive():
            self._proc.kill()
            self._proc.join(timeout=5)
        self._reap()

    def close(self) -> None:
        if self._alive() and self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.send(StopChild())
            self._proc.join(timeout=3)
        self.kill()
