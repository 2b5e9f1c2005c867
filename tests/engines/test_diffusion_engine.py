"""The diffusion engine end to end on tiny random weights (`refvid dev tiny-weights`), loaded through the
same code path as real weights. CPU here; tests/gpu/test_diffusion_gpu.py runs the same checks on CUDA.

The `check_*` functions take the device so that the GPU module can reuse them.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("diffusers")

from refvid.config import Settings
from refvid.engines.base import EngineInput, EngineOutput
from refvid.engines.diffusion import DiffusionEngine
from refvid.engines.output import OutputSpec
from refvid.engines.tiny_weights import write_tiny_weights
from refvid.errors import Cancelled, TaskFailure
from refvid.media.info import MediaKind, Reference
from refvid.media.probe import probe
from tests.media_factory import make_image, make_video, make_wav
from tests.video_checks import assert_contract

FAST = "seedance-2.0-fast-reference-to-video"


class Ctx:
    """An EngineContext that records progress and cancels once progress reaches `cancel_at`."""

    def __init__(self, cancel_at: float | None = None):
        self.state: dict[str, Any] = {}
        self.reports: list[float] = []
        self.cancel_at = cancel_at

    def progress(self, pct: float, message: str | None = None) -> None:
        self.reports.append(pct)

    def cancelled(self) -> bool:
        return self.cancel_at is not None and max(self.reports, default=0) >= self.cancel_at

    def save_state(self, state: dict[str, Any]) -> None:
        self.state = state


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
    ctx = Ctx()
    result = engine.generate(job, ctx)
    assert_contract(result.video_path, 864, 496, 4, has_audio=audio)
    assert (result.width, result.height, result.fps, result.duration_s) == (864, 496, 24, 4)
    assert result.seed == 7 if seed == 7 else 0 <= result.seed < 2**31
    assert result.has_audio is audio
    assert result.extra["steps"] == 2 and result.extra["preset"] == "balanced"
    assert ctx.reports == sorted(ctx.reports) and ctx.reports[-1] == 100
    assert any(5 < p < 90 for p in ctx.reports)  # denoising steps reported in between
    return result


def check_determinism(engine: DiffusionEngine, tmp: Path) -> None:
    first = engine.generate(make_job(tmp / "a", "@Image1 walks", seed=11), Ctx())
    again = engine.generate(make_job(tmp / "b", "@Image1 walks", seed=11), Ctx())
    assert np.array_equal(decoded(first.video_path), decoded(again.video_path))
    # another seed: compared on native frames (cheaper than a third encode)
    job = make_job(tmp / "c", "@Image1 walks", seed=11)
    adapter = engine.adapter_for(engine.folder_for(job.model))
    seed11, seed12 = (adapter.render(engine.prepare(job, adapter, seed), lambda d, t: False).frames
                      for seed in (11, 12))
    assert not np.array_equal(seed11, seed12)


def check_cancellation(engine: DiffusionEngine, tmp: Path) -> None:
    ctx = Ctx(cancel_at=10)  # the first denoising step reports ≥ 10 %
    job = make_job(tmp / "cancel", "@Image1")
    with pytest.raises(Cancelled):
        engine.generate(job, ctx)
    assert max(ctx.reports) < 90  # never reached encoding
    assert not (job.work_dir / "output.mp4").exists()
    result = engine.generate(make_job(tmp / "after", "@Image1"), Ctx())  # the warm pipeline still works
    assert result.video_path.exists()


# -- CPU tests -----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("weights")
    write_tiny_weights(root)
    return root


@pytest.fixture(scope="module")
def engine(weights: Path) -> Iterator[DiffusionEngine]:
    warm = make_engine(weights, "cpu")  # one engine for the module: the pipeline stays loaded, as in a worker
    yield warm
    warm.close()


def test_output_is_contract_conformant_without_audio(engine: DiffusionEngine, tmp_path: Path) -> None:
    result = check_contract_output(engine, tmp_path, audio=False)
    assert result.extra["weights"] == "wan-vace" and result.extra["windows"] == 1


def test_output_has_a_soundtrack_when_asked(engine: DiffusionEngine, tmp_path: Path) -> None:
    check_contract_output(engine, tmp_path, audio=True)


def test_same_seed_same_frames(engine: DiffusionEngine, tmp_path: Path) -> None:
    check_determinism(engine, tmp_path)


def test_cancellation_interrupts_denoising(engine: DiffusionEngine, tmp_path: Path) -> None:
    check_cancellation(engine, tmp_path)


def test_pipeline_stays_warm(engine: DiffusionEngine) -> None:
    folder = engine.folder_for(FAST)
    first = engine.adapter_for(folder)
    assert engine.adapter_for(folder) is first and engine.adapter_for(engine.folder_for(FAST)).pipe is first.pipe


def test_references_reach_the_pipeline_in_mention_order(engine: DiffusionEngine, tmp_path: Path) -> None:
    calls: list[dict[str, Any]] = []
    adapter = engine.adapter_for(engine.folder_for(FAST))
    real = adapter.pipe

    class Spy:
        def __getattr__(self, name: str) -> Any:
            return getattr(real, name)

        def __call__(self, **kwargs: Any) -> Any:
            calls.append(kwargs)
            return real(**kwargs)

    job = make_job(tmp_path, "@Image3 meets @Image1 while the camera moves like @Video1", images=3)
    request = engine.prepare(job, adapter, seed=1)
    assert request.prompt == ("the first reference image meets the second reference image while the camera "
                              "moves like the first reference video")
    assert [img.size for img in request.images] == [(48, 36), (48, 45), (48, 40)]  # images 3, 1, 2, shrunk
    assert request.control is not None and request.control.shape == (request.frames, request.height,
                                                                      request.width, 3)
    adapter.pipe = Spy()
    try:
        with pytest.raises(Cancelled):  # stop once encoding starts: the pipeline call is all this test needs
            engine.generate(job, Ctx(cancel_at=90))
    finally:
        adapter.pipe = real
    (call,) = calls
    assert call["reference_images"] == request.images
    assert len(call["video"]) == len(call["mask"]) == call["num_frames"] == 65  # 4 s at 16 fps, 4k+1
    assert (call["width"], call["height"], call["num_inference_steps"]) == (48, 48, 2)


def test_long_clips_are_extended_window_by_window(weights: Path, tmp_path: Path) -> None:
    small = tmp_path / "weights"
    shutil.copytree(weights, small)
    config = small / "wan-vace" / "refvid.json"
    config.write_text(config.read_text().replace('"adapter"', '"max_frames": 33, "overlap": 17, "adapter"'))
    engine = make_engine(small, "cpu")
    try:
        ctx = Ctx()
        result = engine.generate(make_job(tmp_path / "job", "@Image1", videos=0), ctx)
    finally:
        engine.close()
    assert result.extra["windows"] == 3  # 65 native frames: 0–32, 16–48, 32–64
    assert_contract(result.video_path, 640, 640, 4, has_audio=False)
    assert ctx.reports == sorted(ctx.reports)


def test_missing_weights_name_the_folder(tmp_path: Path) -> None:
    engine = make_engine(tmp_path, "cpu")
    with pytest.raises(TaskFailure, match=r"wan-vace-1\.3b") as info:
        engine.generate(make_job(tmp_path / "job", "@Image1", videos=0), Ctx())
    assert info.value.code == "generation_failed"
    assert any("wan-vace-14b" in line for line in engine.check())
    with pytest.raises(TaskFailure, match="REFVID_DIFFUSION_WEIGHTS"):
        DiffusionEngine(Settings(diffusion_weights=None)).folder_for(FAST)
    with pytest.raises(ValueError, match="preset"):
        DiffusionEngine(Settings(diffusion_weights=tmp_path, diffusion_preset="turbo"))

