"""Whatever video a remote engine returns → the contract's exact MP4: width×height (scaled to cover, centre-
cropped), `fps`, exactly `frames` frames (output frame i shows source time i/fps: the nearest earlier source
frame; a short clip holds its last frame), and stereo AAC at 48 kHz of exactly the output length, or no audio.

Streaming: frames are decoded, fitted and encoded one at a time (never the whole clip in memory), through the
shared encoder (`media/encode.py`), so an upstream's video is packaged exactly like one rendered here.

`in_container` is the last step every engine's output goes through: a video whose container (MP4 or QuickTime
MOV, told by its `ftyp` brand) is not the one the task asked for (`output_format`) is remuxed, its streams
copied, not re-encoded: about as costly as copying the file, so any engine delivers both formats.
"""

from __future__ import annotations

import math
import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np

from refvid.media.encode import OUTPUT_SAMPLE_RATE, VideoWriter, container_for, encode_thumbnail
from refvid.media.probe import sniff


@dataclass(frozen=True)
class Conformed:
    """What the source was (for the task's result `extra`) and what was written."""

    source_width: int
    source_height: int
    source_fps: float
    source_duration_s: float
    source_has_audio: bool


def fit(frame: np.ndarray, width: int, height: int) -> np.ndarray:
    """Scale to cover width×height, then centre-crop."""
    h, w = frame.shape[:2]
    if (w, h) == (width, height):
        return frame
    scale = max(width / w, height / h)
    sw, sh = max(width, math.ceil(w * scale)), max(height, math.ceil(h * scale))
    resized = cv2.resize(frame, (sw, sh), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC)
    x, y = (sw - width) // 2, (sh - height) // 2
    return np.ascontiguousarray(resized[y : y + height, x : x + width])


def _timed_frames(container: Any) -> Iterator[tuple[float, np.ndarray]]:
    stream = container.streams.video[0]
    for frame in container.decode(stream):
        t = float(frame.pts * stream.time_base) if frame.pts is not None else 0.0
        yield t, frame.to_ndarray(format="rgb24")


def _source_audio(path: Path, seconds: float) -> np.ndarray | None:
    """The source's audio as float32 [2, n] at 48 kHz, exactly `seconds` long (padded with silence), or None."""
    with av.open(str(path)) as container:
        if not container.streams.audio:
            return None
        resampler = av.AudioResampler(format="fltp", layout="stereo", rate=OUTPUT_SAMPLE_RATE)
        chunks = [out.to_ndarray() for frame in container.decode(audio=0) for out in resampler.resample(frame)]
        chunks += [out.to_ndarray() for out in resampler.resample(None)]
    n = round(seconds * OUTPUT_SAMPLE_RATE)
    samples = np.concatenate(chunks, axis=1)[:, :n] if chunks else np.zeros((2, 0), np.float32)
    return np.pad(samples.astype(np.float32), [(0, 0), (0, n - samples.shape[1])])


def conform_video(source: Path, dest: Path, thumbnail: Path, *, width: int, height: int, fps: int, frames: int,
                  audio: bool, fallback_audio: Callable[[], tuple[np.ndarray, int]],
                  check: Callable[[], None] = lambda: None) -> Conformed:
    """Write `dest` (and a middle-frame JPEG `thumbnail`) from `source`. With `audio`, the source's own sound
    is kept; a silent source gets `fallback_audio()` (the reference audio, or the synthesized bed)."""
    with av.open(str(source)) as container:
        if not container.streams.video:
            raise ValueError("the video has no video stream")
        stream = container.streams.video[0]
        src_fps = float(stream.average_rate or stream.guessed_rate or Fraction(fps))
        src_w, src_h = stream.codec_context.width, stream.codec_context.height
        has_audio = bool(container.streams.audio)
        samples, rate = (None, OUTPUT_SAMPLE_RATE)
        if audio:
            seconds = frames / fps
            samples = _source_audio(source, seconds) if has_audio else None
            if samples is None:
                samples, rate = fallback_audio()
        last_t, shown = 0.0, None
        decoded = _timed_frames(container)
        pending = next(decoded, None)
        if pending is None:
            raise ValueError("the video has no frames")
        with VideoWriter(dest, width, height, fps, audio=samples is not None, sample_rate=rate) as writer:
            for i in range(frames):
                target = i / fps + 1e-6
                while pending is not None and (shown is None or pending[0] <= target):
                    last_t, shown = pending[0], fit(pending[1], width, height)
                    pending = next(decoded, None)
                assert shown is not None
                writer.write_frame(shown)
                if i == frames // 2:
                    encode_thumbnail(shown, thumbnail)
                if i % 24 == 23:
                    check()
            if samples is not None:
                writer.write_audio(samples)
    return Conformed(src_w, src_h, round(src_fps, 3), round(max(last_t + 1 / max(src_fps, 1.0), 0.0), 3), has_audio)


def remux(source: Path, dest: Path) -> Path:
    """Copy the video and audio streams of `source` into the container `dest`'s suffix names (`.mov`: QuickTime,
    else MP4), moov first; atomic like the encoder's files. `dest` may be `source` itself."""
    muxer = container_for(dest)
    tmp = dest.with_name(f".{dest.stem}.{uuid.uuid4().hex[:8]}.part.{muxer}")
    try:
        with av.open(str(source)) as src, av.open(str(tmp), "w", format=muxer,
                                                   options={"movflags": "+faststart"}) as out:
            inputs = [s for s in src.streams if s.type in ("video", "audio")]
            outputs = {s.index: out.add_stream_from_template(s) for s in inputs}
            for packet in src.demux(*inputs):
                if packet.dts is None:  # the demuxer's end-of-stream marker
                    continue
                packet.stream = outputs[packet.stream.index]
                out.mux(packet)
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    return dest


def container_of(path: Path) -> str | None:
    """`mp4` or `mov` as the file's first bytes tell (None for anything else)."""
    with path.open("rb") as f:
        found = sniff(f.read(32))
    return found if found in ("mp4", "mov") else None


def in_container(path: Path, container: str) -> Path:
    """The video at `path` in `container`: itself when its bytes and suffix are that container already, else
    remuxed to `output.<container>` beside it (an engine that only writes MP4, a provider that returned the
    other one)."""
    if path.suffix.lower() == f".{container}" and container_of(path) == container:
        return path
    dest = path.with_name(f"output.{container}")
    remux(path, dest)
    if path != dest:
        path.unlink(missing_ok=True)
    return dest
