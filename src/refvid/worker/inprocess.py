"""Engines that wait rather than compute, run on a thread of the worker process instead of a child.

The upstream engine spends a job's life waiting on a remote server (polls every second or so, then one
download and one conform). A spawned engine process per task would hold a slot, a process and its memory per
job for minutes; here one engine instance serves every job of the process, each followed on one of a fixed
number of follower threads (`Worker`), so nothing grows per task. `InProcessHost.run` has `EngineHost.run`'s
contract: progress and state go to the lease, a stop is seen by the engine through `ctx.cancelled()`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from refvid.config import Settings
from refvid.engines.base import Engine, EngineOutput
from refvid.engines.registry import build_engine
from refvid.errors import Cancelled, TaskFailure
from refvid.worker.child import delivered, resolve_job
from refvid.worker.events import JobRequest


class _ThreadContext:
    """The `EngineContext` of a job run on a thread: the lease's callbacks, and the task's time limit."""

    def __init__(self, state: dict[str, Any], on_progress: Callable[[int], None],
                 on_state: Callable[[dict[str, Any]], None], stop_reason: Callable[[], str | None],
                 deadline: float):
        self.state = state
        self._on_progress, self._on_state, self._stop_reason = on_progress, on_state, stop_reason
        self._deadline = deadline
        self._last_pct = -1
        self.timed_out = False

    def progress(self, pct: float, message: str | None = None) -> None:
        value = int(max(0, min(100, pct)))
        if value > self._last_pct:
            self._last_pct = value
            self._on_progress(value)

    def cancelled(self) -> bool:
        if time.monotonic() >= self._deadline:
            self.timed_out = True
        return self.timed_out or self._stop_reason() is not None

    def stop_reason(self) -> str | None:
        return self._stop_reason() or ("shutdown" if self.timed_out else None)

    def save_state(self, state: dict[str, Any]) -> None:
        self.state = dict(state)
        self._on_state(self.state)


class InProcessHost:
    """One engine instance for the whole process, shared by the follower threads (the engine is thread-safe)."""

    def __init__(self, engine_name: str, settings: Settings):
        self.engine_name = engine_name
        self._settings = settings
        self._engine: Engine | None = None
        self._lock = threading.Lock()

    def _built(self) -> Engine:
        with self._lock:
            if self._engine is None:
                self._engine = build_engine(self.engine_name, self._settings)
            return self._engine

    def run(self, job: JobRequest, on_progress: Callable[[int], None], on_state: Callable[[dict[str, Any]], None],
            stop_reason: Callable[[], str | None], timeout_s: float) -> EngineOutput:
        engine = self._built()
        ctx = _ThreadContext(dict(job.state), on_progress, on_state, stop_reason, time.monotonic() + timeout_s)
        try:
            request = resolve_job(engine, job)
            return delivered(engine.generate(request, ctx), request)
        except Cancelled:
            if ctx.timed_out:
                raise TaskFailure(f"generation took longer than {timeout_s:.0f} s", code="generation_timeout") from None
            raise

    def kill(self) -> None:
        """Nothing to kill: the engine stops at its next `ctx.cancelled()` check."""

    def close(self) -> None:
        close = getattr(self._engine, "close", None)
        if callable(close):
            close()
