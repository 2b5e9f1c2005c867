"""Running the compositor engine directly, and decoding what it wrote."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
from PIL import Image

from refvid.engines.base import EngineInput, EngineOutput
from refvid.engines.compositor.engine import CompositorEngine
from refvid.engines.output import OutputSpec
from refvid.media.info import MediaInfo, MediaKind, Reference
from tests.support.fakes.engine_ctx import FakeContext


def probe_ref(kind: MediaKind, path: Path, index: int = 0) -> Reference:
    """A Reference as the worker would hand it over, probed here with PIL/PyAV."""
    size = path.stat().st_size
    if kind == "image":
        with Image.open(path) as img:
            info = MediaInfo("image", (img.format or "png").lower(), size, img.width, img.height)
    else:
        with av.open(str(path)) as c:
            duration = float(c.duration or 0) / 1e6
            if kind == "video":
                v = c.streams.video[0]
                info = MediaInfo("video", "mp4", size, v.width, v.height, duration, float(v.average_rate or 0),
                                 video_codec=v.codec_context.name, has_video=True)
            else:
                a = c.streams.audio[0]
                info = MediaInfo("audio", path.suffix[1:], size, duration_s=duration, sample_rate=a.sample_rate,
                                 channels=a.channels, audio_codec=a.codec_context.name, has_audio=True)
    return Reference(kind, index, path.as_uri(), path, info)


def run_engine(work: Path, refs: list[Reference], prompt: str = "", *, resolution: str = "480p",
               ratio: str = "16:9", duration: int = 4, audio: bool = True, seed: int = 1,
               ctx: FakeContext | None = None, model: str = "seedance-2.0-reference-to-video",
               task_type: str = "auto") -> EngineOutput:
    spec = OutputSpec.build(resolution, ratio, duration, audio, seed)
    job = EngineInput("task-test", model, prompt, refs, spec, work, task_type=task_type)
    return CompositorEngine().generate(job, ctx or FakeContext())


def decode_frames(path: Path, stride: int = 1) -> list[np.ndarray]:
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24") for i, f in enumerate(c.decode(video=0)) if i % stride == 0]


def decode_audio(path: Path) -> tuple[np.ndarray, int]:
    """(float32 [channels, n], sample rate) of the first audio stream."""
    with av.open(str(path)) as c:
        rate = c.streams.audio[0].sample_rate
        return np.concatenate([f.to_ndarray() for f in c.decode(audio=0)], axis=1), rate
