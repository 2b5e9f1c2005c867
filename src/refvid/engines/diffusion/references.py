"""Reference media as the joint audio+video models take them (PyAV and numpy only, no torch).

MiniMax-H3 resamples references itself, but only with torchaudio for sound, which refvid does not install:
so every waveform is decoded and resampled here with PyAV to the model's own rate and handed over at that
rate. Video frames keep their own frame rate (the model places them on its 24 fps clock from `fps`) and are
shrunk to the size the model encodes them at, so that a 4K reference costs no more memory than needed.
"""

from __future__ import annotations

import math
from pathlib import Path

import av
import cv2
import numpy as np

from refvid.media import soundtrack


def decode_audio(path: Path, rate: int, max_seconds: float | None = None) -> np.ndarray:
    """The first audio stream of `path` (an audio file or a video's soundtrack) as float32 stereo
    `[2, n]` at `rate`, cut at `max_seconds`."""
    samples = soundtrack.load_audio(path, rate)
    if max_seconds is not None:
        samples = samples[:, : max(1, math.ceil(max_seconds * rate))]
    return np.ascontiguousarray(samples)


def decode_video(path: Path, max_seconds: float, short_edge: int) -> tuple[np.ndarray, float]:
    """(frames `(n, h, w, 3)` uint8, fps): the first `max_seconds` of the video at its own frame rate, the
    short edge scaled down to `short_edge` (never up)."""
    frames: list[np.ndarray] = []
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        fps = float(stream.average_rate or stream.guessed_rate or 24)
        for frame in container.decode(stream):
            if frame.time is not None and frame.time >= max_seconds:
                break
            frames.append(shrink(frame.to_ndarray(format="rgb24"), short_edge))
    if not frames:
        raise ValueError(f"{path.name}: no video frames")
    return np.stack(frames), fps


def shrink(frame: np.ndarray, short_edge: int) -> np.ndarray:
    """Scale so the short edge is at most `short_edge` (area filter), keeping the aspect ratio."""
    h, w = frame.shape[:2]
    scale = short_edge / min(h, w)
    if scale >= 1:
        return frame
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return np.ascontiguousarray(cv2.resize(frame, size, interpolation=cv2.INTER_AREA))

