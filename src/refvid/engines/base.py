"""The engine interface.

An engine turns validated, already-downloaded references plus a resolved `OutputSpec` into an MP4 file.
Engines never touch the database or our HTTP API. The worker runs them inside a spawned child process
(`worker/child.py`) and talks to them only through `EngineContext`:

- `ctx.progress(pct)` reports monotonic progress 0–100 (call it at least every 5 %);
- `ctx.cancelled()` is true once the task must stop (check at least every 0.5 s, then raise `Cancelled`);
  the worker's context also has `ctx.stop_reason()`: "cancel" when the client cancelled, "shutdown" when the
  task will run again elsewhere (undo outside effects only for "cancel");
- `ctx.state` / `ctx.save_state()` persist small JSON state across restarts (the relay keeps the upstream
  task id there so that a restarted worker resumes polling instead of submitting twice).

Failures that are the input's fault or the engine's are raised as `TaskFailure(code=...)` with a spec §6
code; any other exception fails the task with `generation_failed`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from refvid.engines.output import OutputSpec, reference_driven_duration
from refvid.media.info import Reference


@dataclass(frozen=True)
class EngineInput:
    task_id: str
    model: str
    prompt: str
    references: list[Reference]  # images, then videos, then audios, each in request list order
    output: OutputSpec
    work_dir: Path  # private scratch folder for this attempt; the output file goes here
    requested_ratio: str = ""  # the ratio as the client sent it (`adaptive` survives here for the relay)

    def of_kind(self, kind: str) -> list[Reference]:
        return [r for r in self.references if r.kind == kind]

    @property
    def images(self) -> list[Reference]:
        return self.of_kind("image")

    @property
    def videos(self) -> list[Reference]:
        return self.of_kind("video")

    @property
    def audios(self) -> list[Reference]:
        return self.of_kind("audio")


@dataclass(frozen=True)
class EngineOutput:
    """The finished video. `seed`, `ratio`, `duration_s` are what was actually used (the relay reports the
    provider's values). `extra` lands in the task's result (e.g. `{"steps": 8}`)."""

    video_path: Path
    seed: int
    width: int
    height: int
    duration_s: float
    fps: int
    has_audio: bool
    thumbnail_path: Path | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class EngineContext(Protocol):
    state: dict[str, Any]

    def progress(self, pct: float, message: str | None = None) -> None: ...

    def cancelled(self) -> bool: ...

    def save_state(self, state: dict[str, Any]) -> None: ...


@runtime_checkable
class Engine(Protocol):
    """One way of generating video. Instances live in the worker's child process and may keep heavy
    state (a loaded pipeline) warm between tasks."""

    name: str
    resolutions: tuple[str, ...]
    supports_audio: bool

    def choose_duration(self, references: list[Reference]) -> int:
        """Resolve `duration: -1` for these references."""
        ...

    def generate(self, job: EngineInput, ctx: EngineContext) -> EngineOutput: ...


class BaseEngine:
    """Defaults shared by the built-in engines."""

    name = "base"
    resolutions: tuple[str, ...] = ("480p", "720p")
    supports_audio = True

    def choose_duration(self, references: list[Reference]) -> int:
        return reference_driven_duration(references)

    def close(self) -> None:
        """Release heavy resources (called when the child process shuts down)."""
