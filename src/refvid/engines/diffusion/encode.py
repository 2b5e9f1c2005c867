"""Native frames → the contract MP4: exact size, 24 fps, `duration × 24` frames, AAC iff `generate_audio`.

Encoding and soundtrack mixing are the shared media layer's (`media/encode.py`, `media/soundtrack.py`), so a
diffusion video is packaged exactly like a compositor one. Audio is the model's own when it generated some
(LTX-2), else the reference audio mixed as the compositor does, else its quiet synthesized bed.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from refvid.engines.base import EngineContext, EngineInput
from refvid.engines.diffusion.media import output_frames
from refvid.engines.diffusion.plan import Rendered
from refvid.media import soundtrack
from refvid.media.encode import VideoWriter, encode_thumbnail

PROGRESS_FROM, PROGRESS_TO = 90.0, 99.0


def soundtrack_for(job: EngineInput, rendered: Rendered) -> tuple[np.ndarray, int]:
    """(samples, sample rate) covering exactly the output duration."""
    if rendered.audio is not None and rendered.sample_rate > 0:
        n = job.output.duration_s * rendered.sample_rate
        audio = np.atleast_2d(np.asarray(rendered.audio, np.float32))[:, :n]
        return np.pad(audio, [(0, 0), (0, n - audio.shape[1])]), rendered.sample_rate
    return soundtrack.for_job(job)


def encode_output(job: EngineInput, ctx: EngineContext, rendered: Rendered, interpolation: str,
                  check: Callable[[EngineContext], None]) -> tuple[Path, Path]:
    """Write work_dir/output.mp4 or .mov (`OutputSpec.video_name`) and a middle-frame JPEG thumbnail; report
    90–99 % and honour cancellation while frames stream through the encoder (never all in memory at output size)."""

    out = job.output
    path, thumb = job.work_dir / out.video_name, job.work_dir / "thumbnail.jpg"
    samples, rate = soundtrack_for(job, rendered) if out.generate_audio else (None, 0)
    frames = output_frames(rendered.frames, rendered.fps, out.frames, out.fps, out.width, out.height, interpolation)
    with VideoWriter(path, out.width, out.height, out.fps, audio=samples is not None, sample_rate=rate) as writer:
        for i, frame in enumerate(frames):
            writer.write_frame(frame)
            if i == out.frames // 2:
                encode_thumbnail(frame, thumb)
            if (i + 1) % 12 == 0:  # every half second of output: a few % of the encode
                check(ctx)
                ctx.progress(PROGRESS_FROM + (PROGRESS_TO - PROGRESS_FROM) * (i + 1) / out.frames, "encoding")
        if samples is not None:
            writer.write_audio(samples)
    return path, thumb
