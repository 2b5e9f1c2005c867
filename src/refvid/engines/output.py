"""The output contract (spec §3): pixel sizes per resolution × ratio, fps, and how `adaptive` and
`duration: -1` are resolved."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from refvid.media.info import Reference

FPS = 24
RATIOS = ("16:9", "4:3", "1:1", "3:4", "9:16", "21:9")
RESOLUTIONS = ("480p", "720p", "1080p")

SIZES: dict[str, dict[str, tuple[int, int]]] = {
    "480p": {"16:9": (864, 496), "4:3": (752, 560), "1:1": (640, 640), "3:4": (560, 752),
             "9:16": (496, 864), "21:9": (992, 432)},
    "720p": {"16:9": (1280, 720), "4:3": (1112, 834), "1:1": (960, 960), "3:4": (834, 1112),
             "9:16": (720, 1280), "21:9": (1470, 630)},
    "1080p": {"16:9": (1920, 1080), "4:3": (1664, 1248), "1:1": (1440, 1440), "3:4": (1248, 1664),
              "9:16": (1080, 1920), "21:9": (2206, 946)},
}

DEFAULT_RATIO = "16:9"
DEFAULT_DURATION_S = 5
MIN_DURATION_S = 4
MAX_DURATION_S = 15


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
    if ratio != "adaptive":
        return ratio
    for kind in ("image", "video"):
        for ref in references:
            if ref.kind == kind and ref.info.width and ref.info.height:
                return nearest_ratio(ref.info.width, ref.info.height)
    return DEFAULT_RATIO


def clamp_duration(seconds: float) -> int:
    return max(MIN_DURATION_S, min(MAX_DURATION_S, round(seconds)))


def reference_driven_duration(references: list[Reference]) -> int:
    """The compositor's rule for `duration: -1`: total reference-video length, else the longest
    reference audio, clamped to 4–15 s, else 5 s."""
    videos = [r.info.duration_s for r in references if r.kind == "video"]
    if videos:
        return clamp_duration(sum(videos))
    audios = [r.info.duration_s for r in references if r.kind == "audio"]
    if audios:
        return clamp_duration(max(audios))
    return DEFAULT_DURATION_S


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

    @property
    def frames(self) -> int:
        return self.duration_s * self.fps

    @classmethod
    def build(cls, resolution: str, ratio: str, duration_s: int, generate_audio: bool, seed: int) -> OutputSpec:
        width, height = SIZES[resolution][ratio]
        return cls(resolution, ratio, width, height, duration_s, generate_audio, seed)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
