"""Frames + audio → the contract MP4 (spec §3): H.264 yuv420p, AAC, `+faststart`, atomic on disk. A target
path ending `.mov` gets the same streams in a QuickTime MOV (`output_format: mov`).

`VideoWriter` streams: frames go to the encoder as they come (memory does not grow with the duration) and
audio may be written in chunks of any size, interleaved with the frames or all at the end. The file is
written under a hidden temporary name beside the target and renamed only when complete, so a partial file
is never visible at the final path.

Encoder settings keep decoded frames identical run to run. Measured with this PyAV/libx264 build: with
x264's macroblock-tree rate control on (its default), the same frames encoded in one process came out
different now and then (every thread setting, 1 thread included, more often at some sizes: the output
depends on leftover heap contents); with `mbtree=0` 200 mixed encodes over five sizes and 1–2 threads were
identical. So: `mbtree=0`, and x264 sliced threads with a fixed count (a count that followed the CPU count
would make the bitstream depend on the machine). Colour is BT.601 limited range, tagged as such, converted
with OpenCV's I420 path (faster than swscale's RGB → yuv420p).
"""

from __future__ import annotations

import contextlib
import os
import queue
import threading
import uuid
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from types import TracebackType
from typing import Any

import av
import cv2
import numpy as np
from PIL import Image

OUTPUT_SAMPLE_RATE = 48_000
OUTPUT_CHANNELS = 2


@dataclass(frozen=True)
class EncoderSettings:
    """libx264/AAC settings. Defaults balance speed (2 CPU cores) and quality for 480p–1080p."""

    preset: str = "veryfast"
    crf: int = 20
    threads: int = 2  # x264 sliced threads, fixed so that the output does not depend on the host
    x264_params: str = "mbtree=0"  # macroblock-tree made output nondeterministic (see the module docstring)
    keyint_s: float = 2.0
    audio_bitrate: int = 160_000
    aac_coder: str = "fast"  # FFmpeg's AAC "fast" coder: ~2.5× quicker than "twoloop", same timing and level


def container_for(path: Path) -> str:
    """The muxer a video path asks for by its suffix: `mov` (QuickTime) for `.mov`, else `mp4`."""
    return "mov" if path.suffix.lower() == ".mov" else "mp4"


def rgb_to_i420(rgb: np.ndarray) -> np.ndarray:
    """HxWx3 uint8 RGB → (H*3/2)xW uint8 I420 (BT.601 limited range; H and W must be even)."""
    return np.asarray(cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2YUV_I420))


def i420_to_rgb(i420: np.ndarray) -> np.ndarray:
    """Inverse of `rgb_to_i420`."""
    return np.asarray(cv2.cvtColor(i420, cv2.COLOR_YUV2RGB_I420))


def encode_thumbnail(rgb: np.ndarray, path: Path | str, max_side: int | None = 640, quality: int = 85) -> Path:
    """Write `rgb` (HxWx3 uint8) as a JPEG no larger than `max_side` on its long side; atomic like the video."""
    path = Path(path)
    image = Image.fromarray(np.ascontiguousarray(rgb))
    if max_side is not None and max(image.size) > max_side:
        image.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.part")
    try:
        image.save(tmp, format="JPEG", quality=quality)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


class PlanarFrame:
    """A yuv420p frame owned by the encoder with writable numpy views of its planes, so a renderer can draw
    straight into it (`y`: H×W, `u`/`v`: H/2×W/2; rows may be padded, the views hide that). The padding is
    zeroed so that no leftover memory can reach the encoder."""

    def __init__(self, width: int, height: int):
        self.frame: Any = av.VideoFrame(width, height, "yuv420p")
        views = []
        for plane in self.frame.planes:
            flat = np.frombuffer(memoryview(plane), dtype=np.uint8)
            flat[:] = 0
            views.append(flat.reshape(plane.height, plane.line_size)[:, : plane.width])
        self.y, self.u, self.v = views

    @property
    def planes(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return self.y, self.u, self.v


def _as_planar(samples: np.ndarray, channels: int) -> np.ndarray:
    """Accept [channels, n] (preferred), time-major [n, channels] or mono [n]; return float32 [channels, n]."""
    data = np.asarray(samples, dtype=np.float32)
    if data.ndim == 1:
        data = data[None, :]
    elif data.ndim == 2 and data.shape[0] > 8 and data.shape[1] <= 8:
        data = data.T
    if data.ndim != 2:
        raise ValueError(f"audio must be [channels, n], got shape {samples.shape}")
    if data.shape[0] != channels:
        mono = data[:1] if data.shape[0] == 1 else data.mean(axis=0, keepdims=True)
        data = np.repeat(mono, channels, axis=0)
    return np.ascontiguousarray(np.clip(data, -1.0, 1.0))


class VideoWriter:
    """Streaming MP4 writer: `with VideoWriter(path, w, h, 24, audio=True) as out: out.write_frame(rgb) …`.

    `sample_rate` is the rate of the samples given to `write_audio`; the file always carries 48 kHz stereo AAC
    (other rates are resampled). With `audio=True` the audio track is padded with silence to the video's
    length on close. Leaving the block with an exception removes the temporary file and leaves nothing at
    `path`.

    With `background=True` (the default) encoding and muxing run on a helper thread fed through a short
    queue: PyAV releases the GIL inside the codec, so x264 works while the caller draws the next frame.
    Call the writer from one thread only.
    """

    def __init__(self, path: Path | str, width: int, height: int, fps: int = 24, *, audio: bool = False,
                 sample_rate: int = OUTPUT_SAMPLE_RATE, settings: EncoderSettings | None = None,
                 background: bool = True):
        if width % 2 or height % 2 or width <= 0 or height <= 0:
            raise ValueError(f"yuv420p needs a positive even size, got {width}x{height}")
        self.path = Path(path)
        self.width, self.height, self.fps = width, height, fps
        self.sample_rate = sample_rate or OUTPUT_SAMPLE_RATE
        self.frames_written = 0
        self.samples_written = 0  # at `sample_rate`
        self._settings = settings or EncoderSettings()
        muxer = container_for(self.path)
        self._tmp = self.path.with_name(f".{self.path.stem}.{uuid.uuid4().hex[:8]}.part.{muxer}")
        self._container: Any = av.open(str(self._tmp), "w", format=muxer, options={"movflags": "+faststart"})
        self._video = self._add_video_stream()
        self._audio = self._add_audio_stream() if audio else None
        self._closed = False
        self._error: BaseException | None = None
        self._queue: queue.Queue[tuple[Any, Any] | None] = queue.Queue(maxsize=4)
        self._worker = threading.Thread(target=self._drain, name="video-writer", daemon=True) if background else None
        if self._worker is not None:
            self._worker.start()

    def _add_video_stream(self) -> Any:
        s = self._settings
        stream = self._container.add_stream("libx264", rate=self.fps)
        stream.width, stream.height, stream.pix_fmt = self.width, self.height, "yuv420p"
        stream.time_base = Fraction(1, self.fps)
        keyint = max(1, round(s.keyint_s * self.fps))
        stream.options = {"preset": s.preset, "crf": str(s.crf), "g": str(keyint), "x264-params": s.x264_params,
                          "colorspace": "smpte170m", "color_primaries": "smpte170m", "color_trc": "smpte170m",
                          "color_range": "tv"}
        ctx = stream.codec_context
        ctx.thread_type, ctx.thread_count = "SLICE", s.threads
        return stream

    def _add_audio_stream(self) -> Any:
        stream = self._container.add_stream("aac", rate=OUTPUT_SAMPLE_RATE, layout="stereo")
        stream.bit_rate = self._settings.audio_bitrate
        stream.options = {"aac_coder": self._settings.aac_coder}
        return stream

    @property
    def has_audio(self) -> bool:
        return self._audio is not None

    def write_frame(self, rgb: np.ndarray) -> None:
        """Append one HxWx3 uint8 RGB frame of exactly the writer's size."""
        if rgb.shape != (self.height, self.width, 3):
            raise ValueError(f"frame must be {self.height}x{self.width}x3, got {rgb.shape}")
        self.write_frame_i420(rgb_to_i420(rgb))

    def write_frame_i420(self, i420: np.ndarray) -> None:
        """Append one frame already in I420 layout ((H*3/2)xW uint8, as from `rgb_to_i420`)."""
        if i420.shape != (self.height * 3 // 2, self.width):
            raise ValueError(f"I420 frame must be {self.height * 3 // 2}x{self.width}, got {i420.shape}")
        planar = PlanarFrame(self.width, self.height)
        quarter = (self.width // 2) * (self.height // 2)
        flat = i420.reshape(-1)
        planar.y[...] = i420[: self.height]
        size = self.width * self.height
        planar.u[...] = flat[size:size + quarter].reshape(planar.u.shape)
        planar.v[...] = flat[size + quarter:size + 2 * quarter].reshape(planar.v.shape)
        self._submit_video(planar.frame)

    def new_frame(self) -> PlanarFrame:
        """A blank frame of the writer's size to draw into and then pass to `write_planar` (once)."""
        return PlanarFrame(self.width, self.height)

    def write_planar(self, planar: PlanarFrame) -> None:
        """Append a frame drawn into `new_frame()`'s planes: the zero-copy path. Do not touch it afterwards."""
        self._submit_video(planar.frame)

    def _submit_video(self, frame: Any) -> None:
        frame.pts = self.frames_written
        frame.time_base = Fraction(1, self.fps)
        self._submit(self._video, frame)
        self.frames_written += 1

    def write_audio(self, samples: np.ndarray) -> None:
        """Append float32 samples in [-1, 1]: [channels, n] at `sample_rate` (mono or time-major accepted)."""
        if self._audio is None:
            raise RuntimeError("this writer was opened without audio")
        data = _as_planar(samples, OUTPUT_CHANNELS)
        if data.shape[1] == 0:
            return
        frame = av.AudioFrame.from_ndarray(data, format="fltp", layout="stereo")
        frame.sample_rate = self.sample_rate
        frame.pts = self.samples_written
        frame.time_base = Fraction(1, self.sample_rate)
        self._submit(self._audio, frame)
        self.samples_written += data.shape[1]

    def _submit(self, stream: Any, frame: Any) -> None:
        if self._closed:
            raise RuntimeError("the writer is closed")
        if self._error is not None:
            raise self._error
        if self._worker is None:
            self._encode(stream, frame)
        else:
            self._queue.put((stream, frame))

    def _encode(self, stream: Any, frame: Any) -> None:
        for packet in stream.encode(frame):
            self._container.mux(packet)

    def _drain(self) -> None:
        """Helper thread: encode and mux queued frames in order; after an error, keep emptying the queue."""
        while (item := self._queue.get()) is not None:
            if self._error is None:
                try:
                    self._encode(*item)
                except BaseException as exc:  # handed to the caller's thread on its next call
                    self._error = exc

    def _stop_worker(self) -> None:
        if self._worker is not None and self._worker.is_alive():
            self._queue.put(None)
            self._worker.join()

    def close(self) -> Path:
        """Flush the encoders, finish the file (moov first) and move it to `path`."""
        if self._closed:
            return self.path
        try:
            if self.frames_written == 0:
                raise ValueError("no frames were written: an MP4 needs at least one")
            if self._audio is not None:
                missing = round(self.frames_written * self.sample_rate / self.fps) - self.samples_written
                if missing > 0:
                    self.write_audio(np.zeros((OUTPUT_CHANNELS, missing), np.float32))
            self._stop_worker()
            if self._error is not None:
                raise self._error
            if self._audio is not None:
                self._encode(self._audio, None)
            self._encode(self._video, None)
            self._container.close()
            self._closed = True
            os.replace(self._tmp, self.path)
        except BaseException:
            self.abort()
            raise
        return self.path

    def abort(self) -> None:
        """Drop the unfinished file; nothing appears at `path`."""
        self._error = self._error or RuntimeError("aborted")
        self._stop_worker()
        if not self._closed:
            self._closed = True
            with contextlib.suppress(Exception):
                self._container.close()
        self._tmp.unlink(missing_ok=True)

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()
