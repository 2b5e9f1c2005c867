"""Jobs and scenario checks for the diffusion engine's joint audio+video adapters (MiniMax-H3, LTX-2), shared
by the CPU tests (tests/engines/diffusion/) and the CUDA ones (tests/gpu/)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

from refvid.config import Settings
from refvid.contract import FAST_REFERENCE_MODEL, REFERENCE_MODEL
from refvid.engines.base import EngineInput
from refvid.engines.diffusion.engine import DiffusionEngine
from refvid.engines.diffusion.plan import PreparingAdapter
from refvid.engines.output import OutputSpec
from refvid.errors import Cancelled
from refvid.media.info import MediaKind, Reference
from refvid.media.probe import probe
from tests.support.fakes.engine_ctx import FakeContext
from tests.support.media_factory import make_image, make_video, make_wav
from tests.support.video_checks import assert_contract

ROUTES = [f"{REFERENCE_MODEL}=minimax-h3", f"{FAST_REFERENCE_MODEL}=ltx2"]
TINTS = ((255, 0, 0), (0, 0, 255), (0, 255, 0))


def reference(kind: MediaKind, index: int, path: Path) -> Reference:
    return Reference(kind, index, f"https://example.test/{path.name}", path, probe(path, kind, path.name))


def make_job(folder: Path, prompt: str, *, model: str = REFERENCE_MODEL, images: int = 1, videos: int = 0,
             audios: int = 0, video_sound: bool = False, seconds: int = 5, ratio: str = "16:9",
             audio: bool = True, seed: int = 7) -> EngineInput:
    """A job with generated references (images tinted red/blue/green, 2 s videos, 3 s click tracks)."""
    folder.mkdir(parents=True, exist_ok=True)
    refs = [reference("image", i, make_image(folder / f"i{i}.png", 320 + 40 * i, 300, seed=i, tint=TINTS[i % 3]))
            for i in range(images)]
    refs += [reference("video", i, make_video(folder / f"v{i}.mp4", 320, 192, seconds=2.0, seed=i,
                                              with_audio=video_sound)) for i in range(videos)]
    refs += [reference("audio", i, make_wav(folder / f"a{i}.wav", seconds=3.0)) for i in range(audios)]
    work = folder / "work"
    work.mkdir(exist_ok=True)
    return EngineInput("task-test", model, prompt, refs, OutputSpec.build("480p", ratio, seconds, audio, seed), work)


def make_engine(weights: Path, device: str) -> DiffusionEngine:
    return DiffusionEngine(Settings(diffusion_weights=weights, diffusion_folders=ROUTES, diffusion_preset="balanced"),
                           device=device)


def decoded(path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    """(video frames, audio samples or None) as a client's decoder sees them."""
    with av.open(str(path)) as container:
        frames = np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])
    with av.open(str(path)) as container:
        if not container.streams.audio:
            return frames, None
        audio = np.concatenate([f.to_ndarray() for f in container.decode(audio=0)], axis=1)
    return frames, audio


def render(engine: DiffusionEngine, job: EngineInput, seed: int) -> Any:
    """Native output of the adapter that routing picks for `job` (no encoding)."""
    adapter = engine.adapter_for(engine.folder_for(job.model, engine.needs(job)))
    assert isinstance(adapter, PreparingAdapter)
    return adapter.render(adapter.prepare(job, seed), lambda done, total: False)


# -- scenarios ------------------------------------------------------------------------------------------
def check_determinism(engine: DiffusionEngine, tmp: Path, job_kwargs: dict[str, Any]) -> None:
    """Same seed → identical decoded frames and samples; another seed → different native frames and audio."""
    first = engine.generate(make_job(tmp / "a", seed=11, **job_kwargs), FakeContext())
    again = engine.generate(make_job(tmp / "b", seed=11, **job_kwargs), FakeContext())
    (f1, a1), (f2, a2) = decoded(first.video_path), decoded(again.video_path)
    assert np.array_equal(f1, f2) and a1 is not None and a2 is not None and np.array_equal(a1, a2)
    job = make_job(tmp / "c", **job_kwargs)
    one, other = render(engine, job, 11), render(engine, job, 12)
    assert not np.array_equal(one.frames, other.frames)
    assert one.audio is not None and other.audio is not None and not np.array_equal(one.audio, other.audio)


def check_cancellation(engine: DiffusionEngine, tmp: Path, job_kwargs: dict[str, Any]) -> None:
    """Cancelled after the first denoising step: stops before decoding; the warm pipeline still works."""
    ctx = FakeContext(cancel_at=6)
    job = make_job(tmp / "cancel", **job_kwargs)
    with pytest.raises(Cancelled):
        engine.generate(job, ctx)
    assert 5 < max(ctx.progress_values) < 90  # one step reported, never reached decoding or encoding
    assert not (job.work_dir / "output.mp4").exists()
    ctx = FakeContext()
    result = engine.generate(make_job(tmp / "after", **job_kwargs), ctx)
    assert result.video_path.exists()
    assert ctx.progress_values == sorted(ctx.progress_values) and ctx.progress_values[-1] == 100
    assert any(5 < p < 90 for p in ctx.progress_values)  # denoising steps reported in between


def check_duration_edges(engine: DiffusionEngine, tmp: Path, job_kwargs: dict[str, Any]) -> list[str]:
    """4 s and 15 s requests give exactly 96 and 360 frames (and audio); returns each task's mapping."""
    mappings = []
    for seconds in (4, 15):
        result = engine.generate(make_job(tmp / f"s{seconds}", seconds=seconds, **job_kwargs), FakeContext())
        assert_contract(result.video_path, 864, 496, seconds, has_audio=True)
        assert result.duration_s == seconds
        mappings.append(str(result.extra.get("duration_mapping", result.extra["native"])))
    return mappings
