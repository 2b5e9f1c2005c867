"""The LTX-2 adapter on tiny random weights (`refvid dev tiny-weights --model ltx2`, with an IC-LoRA), loaded
through the same code path as real weights, on CPU: keyframes in mention order, the IC-LoRA path for a
reference video (and the refusal without one), the vocoder's sample rate, determinism, cancellation and the
4 s / 15 s edges."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("peft")  # the IC-LoRA
pytest.importorskip("diffusers.pipelines.ltx2")

from refvid.contract import FAST_REFERENCE_MODEL
from refvid.engines.diffusion.engine import DiffusionEngine
from refvid.engines.diffusion.plan import PreparingAdapter
from refvid.engines.diffusion.tiny_weights import write_tiny_weights
from refvid.errors import TaskFailure
from tests.support.fakes.engine_ctx import FakeContext
from tests.support.joint_diffusion import (
    check_cancellation,
    check_determinism,
    check_duration_edges,
    make_engine,
    make_job,
    render,
)
from tests.support.video_checks import assert_contract

JOB: dict[str, Any] = {"prompt": "@Image2 turns into @Image1", "images": 2, "model": FAST_REFERENCE_MODEL}


@pytest.fixture(scope="module")
def weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("weights")
    write_tiny_weights(root, "ltx2")
    return root


@pytest.fixture(scope="module")
def engine(weights: Path) -> Iterator[DiffusionEngine]:
    warm = make_engine(weights, "cpu")
    yield warm
    warm.close()


def spy_call(engine: DiffusionEngine, job: Any) -> tuple[dict[str, Any], Any]:
    """Run `job` and return the pipeline call's arguments and the engine's output."""
    adapter = engine.adapter_for(engine.folder_for(job.model, engine.needs(job)))
    real, calls = adapter.pipe, []

    class Spy:
        def __getattr__(self, name: str) -> Any:
            return getattr(real, name)

        def __call__(self, **kwargs: Any) -> Any:
            calls.append(kwargs)
            return real(**kwargs)

    adapter.pipe = Spy()
    try:
        result = engine.generate(job, FakeContext())
    finally:
        adapter.pipe = real
    return calls[0], result


def test_images_become_keyframes_in_mention_order(engine: DiffusionEngine, tmp_path: Path) -> None:
    call, result = spy_call(engine, make_job(tmp_path, "@Image3 first, then @Image1, finally @Image2", images=3,
                                             model=FAST_REFERENCE_MODEL, seconds=5))
    conditions = call["conditions"]
    assert [c.index for c in conditions] == [0, 64, 120]  # first, spread (on the 8-frame grid), last
    colours = [np.asarray(c.frames).mean(axis=(0, 1)).argmax() for c in conditions]
    assert colours == [1, 0, 2]  # image 3 (green), 1 (red), 2 (blue)
    assert call["prompt"] == "the first keyframe first, then the second keyframe, finally the third keyframe"
    assert call["num_frames"] == 121 and call["frame_rate"] == 24.0 and call["reference_conditions"] is None
    assert (call["width"], call["height"]) == (64, 32)
    assert_contract(result.video_path, 864, 496, 5, has_audio=True)
    assert result.extra["adapter"] == "ltx2" and result.extra["audio"] == "generated"


def test_reference_video_goes_through_the_ic_lora(engine: DiffusionEngine, tmp_path: Path) -> None:
    call, result = spy_call(engine, make_job(tmp_path, "@Image1 moves like @Video1", videos=1, seconds=4,
                                             model=FAST_REFERENCE_MODEL))
    (reference,) = call["reference_conditions"]
    assert len(reference.frames) == call["num_frames"] == 97
    assert result.extra["ic_lora"] == "ic_lora.safetensors"


def test_audio_is_at_the_vocoders_rate(engine: DiffusionEngine, tmp_path: Path) -> None:
    rendered = render(engine, make_job(tmp_path, "@Image1", images=1, seconds=4, model=FAST_REFERENCE_MODEL), 3)
    adapter = engine.adapter_for(engine.folder_for(FAST_REFERENCE_MODEL))
    assert rendered.sample_rate == adapter.pipe.vocoder.config.output_sampling_rate == 16000
    assert rendered.audio is not None and rendered.audio.shape[0] == 2
    assert len(rendered.frames) == 97  # 8k+1 frames covering 4 s


def test_a_video_without_ic_lora_fails_with_a_specific_code(weights: Path, tmp_path: Path) -> None:
    plain = tmp_path / "weights"
    shutil.copytree(weights, plain)
    shutil.rmtree(plain / "ltx2" / "ic_lora")
    engine = make_engine(plain, "cpu")
    job = make_job(tmp_path / "job", "@Image1 moves like @Video1", videos=1, model=FAST_REFERENCE_MODEL)
    with pytest.raises(TaskFailure) as routed:  # routing refuses it before loading anything
        engine.generate(job, FakeContext())
    assert routed.value.code == "no_capable_engine" and "1 video reference" in routed.value.message
    adapter = engine.adapter_for(plain / "ltx2")  # a folder pinned by hand refuses it too
    assert isinstance(adapter, PreparingAdapter)
    with pytest.raises(TaskFailure) as pinned:
        adapter.prepare(job, 1)
    assert pinned.value.code == "reference_video_unsupported"
    engine.close()


def test_same_seed_same_video_and_audio(engine: DiffusionEngine, tmp_path: Path) -> None:
    check_determinism(engine, tmp_path, JOB)


def test_cancellation_mid_denoise_and_monotonic_progress(engine: DiffusionEngine, tmp_path: Path) -> None:
    check_cancellation(engine, tmp_path, JOB)


def test_duration_edges(engine: DiffusionEngine, tmp_path: Path) -> None:
    check_duration_edges(engine, tmp_path, JOB)
