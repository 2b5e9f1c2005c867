"""Reference media with known content, generated for tests (nothing binary is committed).

Images are textured so that feature tracking and template matching have something to hold on to;
videos are crops of a large textured plate along a known camera path; audio is clicks at known onsets
over a tone, so tests can check cut timing and correlation.
"""

from __future__ import annotations

import io
import wave
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import cast

import av
import cv2
import numpy as np
from av.video.stream import VideoStream
from PIL import Image

CameraPath = Callable[[float], tuple[float, float, float, float]]  # t in [0,1] -> (dx px, dy px, angle deg, scale)


def textured_rgb(width: int, height: int, seed: int = 0, tint: tuple[int, int, int] | None = None) -> np.ndarray:
    """A deterministic colourful texture with strong corners (blobs + lines), HxWx3 uint8 RGB."""
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, size=(max(2, height // 32), max(2, width // 32), 3), dtype=np.uint8)
    img = cv2.resize(base, (width, height), interpolation=cv2.INTER_CUBIC)
    for _ in range(max(20, width * height // 4000)):
        x, y = int(rng.integers(0, width)), int(rng.integers(0, height))
        r = int(rng.integers(3, max(4, min(width, height) // 12)))
        color = tuple(int(c) for c in rng.integers(0, 256, 3))
        if rng.random() < 0.5:
            cv2.circle(img, (x, y), r, color, -1)
        else:
            cv2.rectangle(img, (x, y), (x + r, y + r), color, -1)
    if tint is not None:
        img = (img.astype(np.float32) * 0.35 + np.array(tint, np.float32) * 0.65).astype(np.uint8)
    return img


def write_image(path: Path, rgb: np.ndarray, fmt: str | None = None) -> Path:
    Image.fromarray(rgb).save(path, format=fmt or {".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP"}.get(
        path.suffix.lower(), "PNG"))
    return path


def make_image(path: Path, width: int = 640, height: int = 480, seed: int = 0,
               tint: tuple[int, int, int] | None = None) -> Path:
    return write_image(path, textured_rgb(width, height, seed, tint))


def pan_zoom_rotate(t: float) -> tuple[float, float, float, float]:
    """Pan right for the first third, zoom in for the second, rotate for the last."""
    dx = 120.0 * min(t, 1 / 3) * 3
    scale = 1.0 + 0.25 * min(max(t - 1 / 3, 0.0), 1 / 3) * 3
    angle = 12.0 * max(t - 2 / 3, 0.0) * 3
    return dx, 0.0, angle, scale


def camera_frames(width: int, height: int, n_frames: int, path: CameraPath, seed: int = 1) -> list[np.ndarray]:
    """Frames of a virtual camera moving over a large textured plate along `path`."""
    plate = textured_rgb(width * 3, height * 3, seed)
    cx, cy = plate.shape[1] / 2, plate.shape[0] / 2
    frames = []
    for i in range(n_frames):
        dx, dy, angle, scale = path(i / max(1, n_frames - 1))
        m = cv2.getRotationMatrix2D((cx + dx, cy + dy), angle, scale)
        # Move the view centre (cx+dx, cy+dy) to the output centre.
        m[0, 2] += width / 2 - (cx + dx)
        m[1, 2] += height / 2 - (cy + dy)
        frames.append(cv2.warpAffine(plate, m, (width, height), flags=cv2.INTER_LINEAR))
    return frames


def write_video(path: Path, frames: Sequence[np.ndarray], fps: int = 24, codec: str = "libx264",
                audio: np.ndarray | None = None, sample_rate: int = 44100) -> Path:
    with av.open(str(path), "w") as out:
        stream = cast(VideoStream, out.add_stream(codec, rate=fps))
        stream.width, stream.height = frames[0].shape[1], frames[0].shape[0]
        stream.pix_fmt = "yuv420p"
        if codec == "libx264":
            # Same frames in, same file out: x264's macroblock-tree and frame threads are not reproducible,
            # and tests that compare two runs must not see their *inputs* differ.
            stream.options = {"x264-params": "mbtree=0"}
            stream.codec_context.thread_type, stream.codec_context.thread_count = "SLICE", 1
        astream = out.add_stream("aac", rate=sample_rate) if audio is not None else None
        for rgb in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
        if astream is not None and audio is not None:
            frame = av.AudioFrame.from_ndarray(audio.astype(np.float32).reshape(1, -1), format="flt",
                                               layout="mono")
            frame.sample_rate = sample_rate
            for packet in astream.encode(frame):
                out.mux(packet)
            for packet in astream.encode():
                out.mux(packet)
    return path


def make_video(path: Path, width: int = 640, height: int = 360, seconds: float = 3.0, fps: int = 24,
               camera: CameraPath = pan_zoom_rotate, seed: int = 1, with_audio: bool = False) -> Path:
    frames = camera_frames(width, height, round(seconds * fps), camera, seed)
    audio = clicks(seconds, onsets_s=[0.5, 1.5]) if with_audio else None
    return write_video(path, frames, fps, audio=audio)


def make_flash_video(path: Path, width: int = 480, height: int = 272, seconds: float = 4.0, fps: int = 30,
                     flash_s: float = 1.5) -> Path:
    """A still colourful picture that turns white for three frames from `flash_s`: timing made visible."""
    picture = textured_rgb(width, height, seed=5)
    first = round(flash_s * fps)
    frames = [np.full_like(picture, 255) if first <= i < first + 3 else picture for i in range(round(seconds * fps))]
    return write_video(path, frames, fps=fps)


def clicks(seconds: float, onsets_s: Sequence[float], sample_rate: int = 44100, tone_hz: float = 220.0,
           seed: int = 2) -> np.ndarray:
    """Mono float32 in [-1, 1]: a quiet tone plus loud noise bursts at `onsets_s`."""
    n = round(seconds * sample_rate)
    t = np.arange(n) / sample_rate
    signal = 0.1 * np.sin(2 * np.pi * tone_hz * t)
    rng = np.random.default_rng(seed)
    burst_len = int(0.08 * sample_rate)
    envelope = np.exp(-np.linspace(0, 6, burst_len))
    for onset in onsets_s:
        start = int(onset * sample_rate)
        if start >= n:
            continue  # a click past the end of a short clip
        end = min(n, start + burst_len)
        signal[start:end] += 0.8 * rng.uniform(-1, 1, end - start) * envelope[: end - start]
    return np.clip(signal, -1, 1).astype(np.float32)


def wav_bytes(samples: np.ndarray, sample_rate: int = 44100) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(sample_rate)
        w.writeframes((np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes())
    return buf.getvalue()


def make_wav(path: Path, seconds: float = 4.0, onsets_s: Sequence[float] = (0.5, 1.5, 2.5),
             sample_rate: int = 44100) -> Path:
    path.write_bytes(wav_bytes(clicks(seconds, onsets_s, sample_rate), sample_rate))
    return path


def make_mp3(path: Path, seconds: float = 4.0, onsets_s: Sequence[float] = (0.5, 1.5, 2.5),
             sample_rate: int = 44100) -> Path:
    samples = clicks(seconds, onsets_s, sample_rate)
    with av.open(str(path), "w", format="mp3") as out:
        stream = out.add_stream("libmp3lame", rate=sample_rate, layout="mono")
        frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="flt", layout="mono")
        frame.sample_rate = sample_rate
        for packet in stream.encode(frame):
            out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path
