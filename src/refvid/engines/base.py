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

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Protocol, runtime_checkable

from refvid import catalog
from refvid.contract import MAX_DURATION_S, MIN_DURATION_S, Mode
from refvid.engines.output import OutputSpec, reference_driven_duration
from refvid.media.info import Reference


@dataclass(frozen=True)
class Capabilities:
    """What an engine honours, stated once: in its package's light `__init__.py` (no heavy imports), so the
    registry can describe the engine in the API's composition root without importing torch or OpenCV, and
    the engine class carries the same object (`BaseEngine.capabilities`). `factory` ("module:callable",
    taking `Settings`) is imported only in the process that runs the engine."""

    name: str
    factory: str
    resolutions: tuple[str, ...]
    supports_audio: bool
    # The modes (`contract.Mode`) it serves. Reference-to-video only unless an engine says more, so an engine
    # that has not learnt image- or text-to-video is never routed those models (they are not offered).
    modes: tuple[Mode, ...] = ("reference",)
    # The length `duration: -1` gives when a request has no video or audio reference, if the engine knows it
    # before fetching anything (None: it decides from the references or by itself).
    auto_duration_s: int | None = None
    # "module:function" taking `Settings` and returning, per model id, engine-specific details for
    # `GET /v1/models` (the diffusion engine: the adapters and weights folders behind each model). Light.
    describe: str | None = None
    # What the engine makes of each mode, in a sentence a user reads (`GET /v1/models`, and the result of each
    # task), and the modes whose output is a stand-in rather than the video asked for (the compositor's
    # text-to-video title card): stated here, once, so the wire never guesses.
    makes: Mapping[Mode, str] = field(default_factory=dict)
    placeholder_modes: tuple[Mode, ...] = ()
    # The `omni_reference_task_type`s it can do (`contract.TASK_TYPES`): `edit` and `extend` rework a reference
    # video, which only engines that say so can; a model routed elsewhere refuses them at submit.
    task_types: tuple[str, ...] = ("auto", "reference")


@dataclass(frozen=True)
class EngineInput:
    task_id: str
    model: str
    prompt: str
    references: list[Reference]  # images, then videos, then audios, each in request list order
    output: OutputSpec
    work_dir: Path  # private scratch folder for this attempt; the output file goes here
    requested_ratio: str = ""  # the ratio as the client sent it (`adaptive` survives here for the relay)
    # What the request asked that no local engine renders from and a provider takes as it is (Ark's
    # service_tier, priority, execution_expires_after, safety_identifier, camera_fixed, watermark,
    # return_last_frame), as sorted (name, value) pairs: the relay forwards them.
    passthrough: tuple[tuple[str, str | int | bool], ...] = ()
    task_type: str = "auto"  # `omni_reference_task_type`: edit / extend rework the first video reference

    @property
    def mode(self) -> Mode:
        """What the model takes: reference-to-video, image-to-video (images = first, last frame) or text."""
        return catalog.active().mode_of(self.model)

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

    capabilities: ClassVar[Capabilities]

    @property
    def name(self) -> str: ...

    def choose_duration(self, references: list[Reference], max_s: int = MAX_DURATION_S,
                        min_s: int = MIN_DURATION_S) -> int:
        """Resolve `duration: -1` for these references, within the model's range [min_s, max_s] (its catalog
        entry's: 4–15 s on the 2.0 line, 4–30 s on 2.5)."""
        ...

    def generate(self, job: EngineInput, ctx: EngineContext) -> EngineOutput: ...


class BaseEngine:
    """Defaults shared by the built-in engines. Subclasses set `capabilities` to their package's
    `CAPABILITIES`; name, resolutions and audio support are read from it, never restated."""

    capabilities: ClassVar[Capabilities]

    @property
    def name(self) -> str:
        return self.capabilities.name

    @property
    def resolutions(self) -> tuple[str, ...]:
        return self.capabilities.resolutions

    @property
    def supports_audio(self) -> bool:
        return self.capabilities.supports_audio

    def choose_duration(self, references: list[Reference], max_s: int = MAX_DURATION_S,
                        min_s: int = MIN_DURATION_S) -> int:
        return reference_driven_duration(references, max_s, min_s)

    def close(self) -> None:
        """Release heavy resources (called when the child process shuts down)."""
