"""The diffusion engine end to end on tiny random weights (`refvid dev tiny-weights`), loaded through the
same code path as real weights. CPU here; tests/gpu/test_diffusion_gpu.py runs the same checks on CUDA
(the shared `check_*` scenarios are in tests/support/diffusion.py).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("torch")
pytest.importorskip("diffusers")

from refvid.api.drafts import final_request
from refvid.api.schemas import CreateVideoRequest
from refvid.config import Settings
from refvid.contract import ModelOffer
from refvid.engines.diffusion.engine import DiffusionEngine
from refvid.engines.diffusion.tiny_weights import write_tiny_weights
from refvid.engines.output import OutputSpec
from refvid.errors import Cancelled, TaskFailure
from refvid.tasks.model import Task, TaskSpec, TaskStatus
from tests.support.diffusion import (
    FAST,
    check_cancellation,
    check_contract_output,
    check_determinism,
    make_engine,
    make_job,
)
from tests.support.fakes.engine_ctx import FakeContext
from tests.support.video_checks import assert_contract


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
            engine.generate(job, FakeContext(cancel_at=90))
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
        ctx = FakeContext()
        result = engine.generate(make_job(tmp_path / "job", "@Image1", videos=0), ctx)
    finally:
        engine.close()
    assert result.extra["windows"] == 3  # 65 native frames: 0–32, 16–48, 32–64
    assert_contract(result.video_path, 640, 640, 4, has_audio=False)
    assert ctx.progress_values == sorted(ctx.progress_values)


def test_missing_weights_name_the_folder(tmp_path: Path) -> None:
    engine = make_engine(tmp_path, "cpu")
    with pytest.raises(TaskFailure, match=r"wan-vace-1\.3b") as info:
        engine.generate(make_job(tmp_path / "job", "@Image1", videos=0), FakeContext())
    assert info.value.code == "generation_failed"
    assert any("wan-vace-14b" in line for line in engine.check())
    with pytest.raises(TaskFailure, match="REFVID_DIFFUSION_WEIGHTS"):
        DiffusionEngine(Settings(diffusion_weights=None)).folder_for(FAST)
    with pytest.raises(ValueError, match="preset"):
        DiffusionEngine(Settings(diffusion_weights=tmp_path, diffusion_preset="turbo"))



def test_a_final_is_planned_with_its_drafts_seed(engine: DiffusionEngine, tmp_path: Path) -> None:
    """Draft → final (api/drafts.py): the final's spec carries the seed drawn for its draft, and the engine's
    plan renders with it at the final's size. Its latent grid is larger, so its noise is not the draft's: only
    the seed, prompt and references are shared (docs/engines.md), not the pixels."""
    draft_job = make_job(tmp_path, "@Image1 meets @Image2", seed=4242)
    draft = Task(id="task-unified-1-drafting", owner="k", engine="diffusion", status=TaskStatus.COMPLETED,
                 spec=TaskSpec(model=FAST, prompt=draft_job.prompt, resolution="480p", ratio="1:1", duration=4,
                               generate_audio=False, draft=True), result={"seed": draft_job.output.seed})
    served = {FAST: ModelOffer(FAST, "diffusion", ("480p", "720p"), True)}
    final = final_request(CreateVideoRequest(model=FAST, draft_task_id=draft.id), draft, served)
    final_job = replace(draft_job, output=OutputSpec.build(final.resolution, final.effective_ratio, final.duration,
                                                           final.generate_audio, final.seed))
    adapter = engine.adapter_for(engine.folder_for(FAST))
    assert (final.resolution, final_job.output.seed) == ("720p", 4242)
    planned = engine.prepare(final_job, adapter, final_job.output.seed)
    assert planned.seed == engine.prepare(draft_job, adapter, draft_job.output.seed).seed == 4242
