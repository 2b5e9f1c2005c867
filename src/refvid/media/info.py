"""What probing a reference file tells us. Shared by media.probe, the worker and the engines."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from refvid.contract import MediaKind

__all__ = ["MediaInfo", "MediaKind", "Reference"]


@dataclass(frozen=True)
class MediaInfo:
    """Facts about one media file, as decoded (never as claimed by its name or headers)."""

    kind: MediaKind
    format: str  # "jpeg" | "png" | "webp" | "mp4" | "mov" | "mp3" | "wav"
    size_bytes: int
    width: int = 0
    height: int = 0
    duration_s: float = 0.0
    fps: float = 0.0
    video_codec: str | None = None
    audio_codec: str | None = None
    has_video: bool = False
    has_audio: bool = False
    sample_rate: int = 0
    channels: int = 0

    @property
    def aspect(self) -> float:
        return self.width / self.height if self.height else 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MediaInfo:
        return cls(**data)


@dataclass(frozen=True)
class Reference:
    """A fetched, probed and validated reference, ready for an engine.

    `field` is the request list it came from (`image_urls`), `index` its 0-based position there, so that
    `label` is `@Image1` for `image_urls[0]`.
    """

    kind: MediaKind
    index: int
    url: str
    path: Path
    info: MediaInfo

    @property
    def field(self) -> str:
        return f"{self.kind}_urls"

    @property
    def label(self) -> str:
        return f"@{self.kind.capitalize()}{self.index + 1}"
