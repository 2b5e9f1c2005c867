"""Jobs and scenario checks for the diffusion engine on tiny weights, shared by the CPU tests
(tests/engines/diffusion/) and the CUDA ones (tests/gpu/)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from refvid.config import Settings
from refvid.engines.base import EngineInput, EngineOutput
from refvid.engines.diffusion.engine import DiffusionEngine
from refvid.engines.output import OutputSpec
from refvid.errors import Cancelled
from refvid.media.info import MediaKind, Reference
from refvid.media.probe import probe
from tests.support.fakes.engine_ctx import FakeContext
from tests.support.media_factory import make_image, make_video, make_wav
from tests.support.video_checks import assert_contract

FAST = "seedance-2.0-fast-reference-to-video"


def reference(kind: MediaKind, index: int, path: Path) -> Reference:
    return Reference(kind, index, f"https://example.test/{path.name}", path, probe(path, kind, path.name))


def make_job(folder: Path, prompt: str, *, images: int = 2, videos: int = 1, audios: int = 0, seconds: int = 4,
             ratio: str = "1:1", audio: bool = False, seed: int = 7, model: str = FAST) -> EngineInput:
    folder.mkdir(parents=True, exist_ok=True)
    refs = [reference("image", i, make_image(folder / f"i{i}.png", 320 + 40 * i, 300, seed=i,
                                             tint=((255, 0, 0), (0, 0, 255), (0, 255, 0))[i % 3]))
            for i in range(images)]
    refs += [reference("video", i, make_video(folder / f"v{i}.mp4", 320, 192, seconds=2.0, seed=i))
             for i in range(videos)]
    refs += [reference("audio", i, make_wav(folder / f"a{i}.wav", seconds=3.0)) for i in range(audios)]
    work = folder / "work"
    work.mkdir(exist_ok=True)
    return EngineInput("task-test", model, prompt, refs, OutputSpec.build("480p", ratio, seconds, audio, seed), work)


def decoded(path: Path) -> np.ndarray:
    import av

    with av.open(str(path)) as container:
        return np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])


def make_engine(weights: Path, device: str, **kwargs: Any) -> DiffusionEngine:
    return DiffusionEngine(Settings(diffusion_weights=weights, diffusion_preset="balanced"), device=device, **kwargs)


# -- scenarios, shared with the GPU module ----------------------------------------------------------------
def check_contract_output(engine: DiffusionEngine, tmp: Path, audio: bool) -> EngineOutput:
    seed = -1 if audio else 7  # -1: the engine draws one and reports it
    job = make_job(tmp, "@Image2 dances next to @Image1, camera like @Video1", audios=1 if audio else 0,
                   ratio="16:9", audio=audio, seed=seed)
    ctx = FakeContext()
    result = engine.generate(job, ctx)
    assert_contract(result.video_path, 864, 496, 4, has_audio=audio)
    assert (result.width, result.height, result.fps, result.duration_s) == (864, 496, 24, 4)
    assert result.seed == 7 if seed == 7 else 0 <= result.seed < 2**31
    assert result.has_audio is audio
    assert result.extra["steps"] == 2 and result.extra["preset"] == "balanced"
    assert ctx.progress_values == sorted(ctx.progress_values) and ctx.progress_values[-1] == 100
    assert any(5 < p < 90 for p in ctx.progress_values)  # denoising steps reported in between
    return result


def check_determinism(engine: DiffusionEngine, tmp: Path) -> None:
    first = engine.generate(make_job(tmp / "a", "@Image1 walks", seed=11), FakeContext())
    again = engine.generate(make_job(tmp / "b", "@Image1 walks", seed=11), FakeContext())
    assert np.array_equal(decoded(first.video_path), decoded(again.video_path))
    # another seed: compared on native frames (cheaper than a third encode)
    job = make_job(tmp / "c", "@Image1 walks", seed=11)
    adapter = engine.adapter_for(engine.folder_for(job.model))
    seed11, seed12 = (adapter.render(engine.prepare(job, adapter, seed), lambda d, t: False).frames
                      for seed in (11, 12))
    assert not np.array_equal(seed11, seed12)


def check_cancellation(engine: DiffusionEngine, tmp: Path) -> None:
    ctx = FakeContext(cancel_at=10)  # the first denoising step reports ≥ 10 %
    job = make_job(tmp / "cancel", "@Image1")
    with pytest.raises(Cancelled):
        engine.generate(job, ctx)
    assert max(ctx.progress_values) < 90  # never reached encoding
    assert not (job.work_dir / "output.mp4").exists()
    result = engine.generate(make_job(tmp / "after", "@Image1"), FakeContext())  # the warm pipeline still works
    assert result.video_path.exists()
