"""Plain-Python planning for the diffusion engine: presets, per-folder model config, native grid and
windows, and the small protocol a pipeline adapter implements.

Nothing here imports torch, so the engine module (and the API process that imports the registry) stays
light. An adapter (`adapters/wan.py`, `adapters/minimax_h3.py`, `adapters/ltx2.py`) is one module that
defines `ADAPTER` (a class following `PipelineAdapter`); what it can honour and which pipeline classes it
serves are declared once in `capabilities.py`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np
from PIL import Image

from refvid.engines.diffusion.capabilities import CONFIG_FILE
from refvid.errors import TaskFailure
from refvid.media.info import Reference
from refvid.media.prompt_refs import VideoRole

if TYPE_CHECKING:
    from refvid.engines.base import EngineInput

__all__ = [
    "CONFIG_FILE",
    "PRESETS",
    "ModelConfig",
    "PipelineAdapter",
    "Placement",
    "PreparingAdapter",
    "Preset",
    "RenderRequest",
    "Rendered",
    "StepHook",
    "native_frame_count",
    "native_size",
    "plan_windows",
]


@dataclass(frozen=True)
class Preset:
    """A named speed/quality trade-off. `steps=None` means the model config's default for this preset."""

    name: str
    steps: int
    cache: str = "none"  # none | fbc (First Block Cache) | mag (MagCache, needs calibrated ratios)
    cache_threshold: float = 0.0
    compile: bool = False  # regional torch.compile of the repeated transformer blocks (CUDA only)
    use_lora: bool = False  # a step-distilled LoRA from the weights folder, when one is there


PRESETS: dict[str, Preset] = {
    # The model's own sampler at a near-reference step count, nothing approximated.
    "quality": Preset("quality", steps=40),
    # Residual caching skips whole transformer passes on slowly-changing steps; compile removes overhead.
    "balanced": Preset("balanced", steps=30, cache="fbc", cache_threshold=0.1, compile=True),
    # Without a distilled LoRA only fewer steps + a looser cache; with one, 4 steps and no CFG.
    "fast": Preset("fast", steps=20, cache="fbc", cache_threshold=0.15, compile=True, use_lora=True),
}


@dataclass(frozen=True)
class ModelConfig:
    """What an adapter needs to know about one weights folder: adapter defaults, then `refvid.json`."""

    adapter: str = ""
    fps: int = 16  # native frame rate
    multiple: int = 16  # height/width granularity (VAE stride × patch size)
    frame_step: int = 4  # frame counts are frame_step·k + frame_offset
    frame_offset: int = 1
    min_frames: int = 1  # shortest clip the model makes (single-window models trim what they do not need)
    max_frames: int = 81  # frames per diffusion window; longer clips are extended window by window
    overlap: int = 17  # frames each window re-uses from the previous one (frame_step·k + 1)
    areas: dict[str, int] = field(default_factory=lambda: {"480p": 832 * 480, "720p": 832 * 480})
    steps: dict[str, int] = field(default_factory=dict)  # preset name → step count override
    guidance_scale: float = 5.0
    negative_prompt: str = ""
    max_sequence_length: int = 512
    # a reference video used for its motion becomes: camera (fitted camera-motion flow) | flow (dense flow) |
    # raw (the footage itself) | none (ignored); footage the prompt asks to show is always passed raw
    control: str = "camera"
    conditioning_scale: float = 1.0
    interpolation: str = "blend"  # native fps → 24 fps: blend neighbours | nearest frame
    attention_backend: str | None = None  # e.g. "_native_cudnn", "flash", "sage" (never the *_hub ones)
    mag_ratios: list[float] | None = None
    lora: str | None = None  # file name inside the folder; default: the first lora/*.safetensors
    lora_steps: int = 4
    lora_guidance_scale: float = 1.0
    licence: str | None = None  # shown by GET /v1/models (capabilities.py reads it; the adapter ignores it)
    ic_lora: str | None = None  # LTX-2: in-context LoRA for reference videos (default: ic_lora/*.safetensors)
    offload_encoder: bool = True  # MiniMax-H3 on CUDA: encoder and DiT take turns on the GPU
    call: dict[str, Any] = field(default_factory=dict)  # extra pipeline-call arguments (LTX-2 guidance knobs)

    @classmethod
    def load(cls, folder: Path, defaults: ModelConfig | None = None) -> ModelConfig:
        """`defaults` (the adapter's) overlaid with the folder's `refvid.json`, unknown keys rejected."""
        base = defaults or cls()
        path = folder / CONFIG_FILE
        if not path.is_file():
            return base
        try:
            data: dict[str, Any] = json.loads(path.read_text())
            return replace(base, **data)
        except (ValueError, TypeError) as exc:
            raise TaskFailure(f"invalid {path}: {exc}", code="generation_failed") from exc

    def steps_for(self, preset: Preset) -> int:
        return self.steps.get(preset.name, preset.steps)


def native_size(width: int, height: int, area: int, multiple: int) -> tuple[int, int]:
    """The grid size with the output's aspect ratio and about `area` pixels, both sides multiples of
    `multiple` (the model is trained near a fixed pixel count; the engine resizes to the exact output)."""
    ratio = width / height
    h = max(multiple, round(math.sqrt(area / ratio) / multiple) * multiple)
    w = max(multiple, round(area / h / multiple) * multiple)
    return w, h


def native_frame_count(out_frames: int, out_fps: int, fps: int, frame_step: int, frame_offset: int = 1) -> int:
    """Native frames covering the output timeline, +1 neighbour for blending, rounded up to step·k+offset."""
    needed = (out_frames - 1) * fps // out_fps + 2
    return math.ceil(max(0, needed - frame_offset) / frame_step) * frame_step + frame_offset


def plan_windows(total: int, max_frames: int, overlap: int) -> list[tuple[int, int]]:
    """(start, length) of each diffusion window. With overlap ≡ 1 (mod step) every length stays step·k+1."""
    if total <= max_frames:
        return [(0, total)]
    if not 0 < overlap < max_frames:
        raise ValueError(f"overlap {overlap} must be in 1..{max_frames - 1}")
    windows = [(0, max_frames)]
    start = 0
    while start + max_frames < total:
        start += max_frames - overlap
        windows.append((start, min(max_frames, total - start)))
    return windows


@dataclass
class Placement:
    """Where and how a pipeline runs (settings + preset, resolved once per load)."""

    device: str  # "cuda" | "cpu"
    preset: Preset
    cpu_offload: bool = False
    vae_tiling: bool = False


@dataclass
class RenderRequest:
    """Everything an adapter needs for one clip, already in native terms."""

    prompt: str
    images: list[Image.Image]  # subject references, in prompt-mention order
    control: np.ndarray | None  # (frames, h, w, 3) uint8 reference-video frames at the native grid and fps
    control_roles: list[VideoRole] = field(default_factory=list)  # per control frame: content | motion
    width: int = 0
    height: int = 0
    frames: int = 0  # native frames to produce
    seed: int = 0
    want_audio: bool = False
    references: list[Reference] = field(default_factory=list)  # as the request listed them (H3, LTX-2)
    duration_s: int = 0  # output duration (adapters that trim/extend say what they did)
    # Image-to-video: native frame index → the frame (h, w, 3 uint8, on the native grid) the clip must show there
    # (the first frame at 0, the end frame where the output's last frame falls); empty for the other modes.
    keyframes: dict[int, np.ndarray] = field(default_factory=dict)


@dataclass
class Rendered:
    """An adapter's result: native frames, and audio when the model generates it jointly."""

    frames: np.ndarray  # (n, h, w, 3) uint8
    fps: float
    steps: int  # denoising steps per window actually configured
    windows: int = 1
    audio: np.ndarray | None = None  # [channels, n] float32 in [-1, 1], as media/encode.py takes it
    sample_rate: int = 0
    info: dict[str, Any] = field(default_factory=dict)


StepHook = Callable[[int, int], bool]  # (steps done, total steps) → True when the task must stop


class PipelineAdapter(Protocol):
    """One diffusers pipeline family. Instances are kept warm by the engine between tasks."""

    pipe: Any  # the diffusers pipeline once loaded (tests and the benchmark look at it)
    config: ModelConfig  # known right after construction (`ADAPTER(folder)`), before any torch import

    def load(self, placement: Placement) -> None: ...

    def render(self, request: RenderRequest, on_step: StepHook) -> Rendered: ...

    def close(self) -> None: ...


@runtime_checkable
class PreparingAdapter(PipelineAdapter, Protocol):
    """An adapter that maps the request onto its model itself (MiniMax-H3, LTX-2: references, labels,
    frame counts); the engine's own `prepare` serves the others (Wan VACE)."""

    def prepare(self, job: EngineInput, seed: int) -> RenderRequest: ...
