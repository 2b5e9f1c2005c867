"""Writing a whole-clip render (image-to-video, text-to-video) to the MP4, its soundtrack and thumbnail.

The reference mode streams shots (`engine.py`); the two sibling modes draw each output frame from a function
of its index, so they share this small loop: frames (optionally graded), a seeded ambience when audio is
asked for (there is no reference audio in these modes; an audio-only shot hands in its `soundtrack`), the
thumbnail from the middle frame.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from refvid.engines.base import EngineInput, EngineOutput
from refvid.engines.compositor.framing import split_i420
from refvid.engines.compositor.grade import Grade
from refvid.media.encode import EncoderSettings, VideoWriter, encode_thumbnail, rgb_to_i420
from refvid.media.soundtrack import SAMPLE_RATE, synthesize_ambience

AUDIO_CHUNK_FRAMES = 12  # audio goes to the muxer every half second of video, interleaved with the frames
FrameAt = Callable[[int], np.ndarray]  # output frame index → H×W×3 uint8 RGB of the output size


def write_clip(job: EngineInput, frame_at: FrameAt, encoder: EncoderSettings, check: Callable[[], None],
               report: Callable[[float], None], extra: dict[str, Any], grade: Grade | None = None,
               soundtrack: np.ndarray | None = None) -> EngineOutput:
    """Render frames 0..n-1 with `frame_at` into `work_dir/output.mp4` (or `.mov`: `OutputSpec.video_name`),
    as the module docstring says."""
    out = job.output
    n, w, h = out.frames, out.width, out.height
    job.work_dir.mkdir(parents=True, exist_ok=True)
    audio = soundtrack
    if audio is None and out.generate_audio:
        audio = synthesize_ambience(out.duration_s, out.seed, check=check)
    path, thumb_path = job.work_dir / out.video_name, job.work_dir / "thumbnail.jpg"
    thumb = np.zeros((h, w, 3), np.uint8)
    with VideoWriter(path, w, h, out.fps, audio=audio is not None, sample_rate=SAMPLE_RATE,
                     settings=encoder) as writer:
        for i in range(n):
            check()
            rgb = frame_at(i)
            if i == n // 2:
                thumb = rgb
            i420 = rgb_to_i420(rgb)
            if grade is not None and not grade.is_identity:
                grade.apply(i, split_i420(i420, w, h))
            writer.write_frame_i420(i420)
            if audio is not None and ((i + 1) % AUDIO_CHUNK_FRAMES == 0 or i == n - 1):
                writer.write_audio(audio[:, writer.samples_written:round((i + 1) * SAMPLE_RATE / out.fps)])
            report((i + 1) / n)
    encode_thumbnail(thumb, thumb_path)
    extra = {**extra, "audio": "none" if audio is None else "reference" if soundtrack is not None else "ambience"}
    return EngineOutput(path, out.seed, w, h, float(out.duration_s), out.fps, audio is not None, thumb_path, extra)
