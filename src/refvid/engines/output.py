"""How an engine's output is pinned down (spec §3): `adaptive` and `duration: -1` resolved against the
references, and the resulting `OutputSpec`. The facts (fps, ratios, the pixel-size table, durations) are
`refvid.contract`'s and re-exported here for the engines' convenience."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from refvid import catalog
from refvid.contract import (
    ADAPTIVE,
    DEFAULT_DURATION_S,
    DEFAULT_RATIO,
    FPS,
    MAX_DURATION_S,
    MIN_DURATION_S,
    RATIOS,
    RESOLUTIONS,
    SIZES,
    pixel_size,
)
from refvid.media.info import Reference
from refvid.media.prompt_refs import mention_order

__all__ = ["FPS", "RATIOS", "RESOLUTIONS", "SIZES", "OutputSpec", "clamp_duration", "edited_duration", "model_range",
           "nearest_ratio", "ratio_value", "reference_driven_duration", "resolve_ratio", "reworked_video"]


def ratio_value(ratio: str) -> float:
    w, h = ratio.split(":")
    return int(w) / int(h)


def nearest_ratio(width: int, height: int) -> str:
    """The contract ratio nearest to width/height, compared on a log scale (2:1 is as far from 1:1 as 1:2)."""
    if width <= 0 or height <= 0:
        return DEFAULT_RATIO
    target = math.log(width / height)
    return min(RATIOS, key=lambda r: abs(math.log(ratio_value(r)) - target))


def resolve_ratio(ratio: str, references: list[Reference]) -> str:
    """`adaptive` → the ratio nearest to the first image, else the first video, else 16:9."""
    if ratio != ADAPTIVE:
        return ratio
    for kind in ("image", "video"):
        for ref in references:
            if ref.kind == kind and ref.info.width and ref.info.height:
                return nearest_ratio(ref.info.width, ref.info.height)
    return DEFAULT_RATIO


def clamp_duration(seconds: float, max_s: int = MAX_DURATION_S, min_s: int = MIN_DURATION_S) -> int:
    return max(min_s, min(max_s, round(seconds)))


def reference_driven_duration(references: list[Reference], max_s: int = MAX_DURATION_S,
                              min_s: int = MIN_DURATION_S) -> int:
    """The compositor's rule for `duration: -1`: total reference-video length, else the longest
    reference audio, clamped to the model's range (`model_range`: 4–15 s on the 2.0 line, 4–30 s on 2.5),
    else 5 s."""
    videos = [r.info.duration_s for r in references if r.kind == "video"]
    if videos:
        return clamp_duration(sum(videos), max_s, min_s)
    audios = [r.info.duration_s for r in references if r.kind == "audio"]
    if audios:
        return clamp_duration(max(audios), max_s, min_s)
    return DEFAULT_DURATION_S


def model_range(model: str) -> tuple[int, int]:
    """(min, max) seconds of output of `model`: its catalog entry's (a model outside the catalog, a plugin's:
    the default model's, the contract's 2.0 range)."""
    entry = catalog.active().get(model)
    return (entry.min_duration, entry.max_duration) if entry else (MIN_DURATION_S, MAX_DURATION_S)


def reworked_video(prompt: str, references: list[Reference]) -> Reference | None:
    """The video an edit or extend works on: the first one the prompt mentions, else the first sent."""
    videos = [ref for ref in references if ref.kind == "video"]
    return videos[mention_order(prompt, "video", len(videos))[0]] if videos else None


def edited_duration(model: str, video: Reference) -> int:
    """`duration: -1` of an edit: the edited video's length in whole seconds, within the model's range."""
    lo, hi = model_range(model)
    return clamp_duration(video.info.duration_s, hi, lo)


@dataclass(frozen=True)
class OutputSpec:
    """What the engine must produce: exact pixel size, frame count at 24 fps, audio on/off, seed."""

    resolution: str
    ratio: str
    width: int
    height: int
    duration_s: int
    generate_audio: bool
    seed: int
    fps: int = FPS
    container: str = "mp4"  # `output_format`: the same streams in an MP4 or a QuickTime MOV

    @property
    def frames(self) -> int:
        return self.duration_s * self.fps

    @property
    def video_name(self) -> str:
        """The file name an engine writes its video to in its work folder (`output.mp4` / `output.mov`): the
        writer picks the container from the suffix (`media.encode.VideoWriter`)."""
        return f"output.{self.container}"

    @classmethod
    def build(cls, resolution: str, ratio: str, duration_s: int, generate_audio: bool, seed: int,
              container: str = "mp4") -> OutputSpec:
        width, height = pixel_size(resolution, ratio)
        return cls(resolution, ratio, width, height, duration_s, generate_audio, seed, container=container)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
