"""Decode outputs with PyAV and summarise what a client would see."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import av


@dataclass(frozen=True)
class VideoSummary:
    width: int
    height: int
    frames: int
    fps: float
    codec: str
    pix_fmt: str
    has_audio: bool
    audio_codec: str | None
    faststart: bool


def summarize(path: Path) -> VideoSummary:
    data = path.read_bytes()
    moov, mdat = data.find(b"moov"), data.find(b"mdat")
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        audio = container.streams.audio[0] if container.streams.audio else None
        frames = sum(1 for _ in container.decode(video=0))
        return VideoSummary(
            width=video.codec_context.width, height=video.codec_context.height, frames=frames,
            fps=float(video.average_rate or 0), codec=video.codec_context.name,
            pix_fmt=str(video.codec_context.pix_fmt), has_audio=audio is not None,
            audio_codec=audio.codec_context.name if audio is not None else None,
            faststart=0 <= moov < mdat,
        )


def assert_contract(path: Path, width: int, height: int, duration_s: int, has_audio: bool) -> VideoSummary:
    summary = summarize(path)
    assert (summary.width, summary.height) == (width, height), summary
    assert summary.frames == duration_s * 24, summary
    assert abs(summary.fps - 24) < 1e-6, summary
    assert summary.codec == "h264" and summary.pix_fmt == "yuv420p", summary
    assert summary.has_audio == has_audio, summary
    if has_audio:
        assert summary.audio_codec == "aac", summary
    assert summary.faststart, summary
    return summary
