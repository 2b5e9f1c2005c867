"""The MiniMax-H3 `ref2va` adapter on tiny random weights (`refvid dev tiny-weights --model minimax-h3`), loaded
through the same code path as real weights, on CPU: request → pipeline mapping, determinism, cancellation,
progress, and the duration window's two ends."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("torchvision")  # Qwen3-VL's video processor
pytest.importorskip("diffusers.modular_pipelines.minimax_h3")

from refvid.contract import REFERENCE_MODEL
from refvid.engines.diffusion.engine import DiffusionEngine
from refvid.engines.diffusion.tiny_weights import write_tiny_weights
from tests.support.fakes.engine_ctx import FakeContext
from tests.support.joint_diffusion import (
    check_cancellation,
    check_determinism,
    check_duration_edges,
    make_engine,
    make_job,
)
from tests.support.video_checks import assert_contract

JOB = {"prompt": "@Image1 walks like @Video1 to @Audio1", "images": 1, "videos": 1, "audios": 1}


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DiffusionEngine]:
    root = tmp_path_factory.mktemp("weights")
    write_tiny_weights(root, "minimax-h3")
    warm = make_engine(root, "cpu")  # one engine for the module: the pipeline stays warm, as in a worker
    yield warm
    warm.close()


def test_request_maps_onto_ref2va(engine: DiffusionEngine, tmp_path: Path) -> None:
    """Labels, the fixed reference order, frame count, size multiple of 32 and audio at the model's rate."""
    calls: list[dict[str, Any]] = []
    adapter = engine.adapter_for(engine.folder_for(REFERENCE_MODEL))
    real = adapter.pipe

    class Spy:
        def __getattr__(self, name: str) -> Any:
            return getattr(real, name)

        def __call__(self, **kwargs: Any) -> Any:
            calls.append(kwargs)
            state = real(**kwargs)
            calls[-1]["state"] = state
            return state

    job = make_job(tmp_path, "@Image3 and @Image1 dance like @Video1, voice @Audio1, @Image2 watches", images=3,
                   videos=1, audios=1, video_sound=True)
    adapter.pipe = Spy()
    try:
        result = engine.generate(job, FakeContext())
    finally:
        adapter.pipe = real
    (call,) = calls
    # the video carries sound, so it takes <Audio 1>: the standalone clip is <Audio 2>
    assert call["prompt"] == "<Picture 3> and <Picture 1> dance like <Video 1>, voice <Audio 2>, <Picture 2> watches"
    refs = call["references"]
    assert [r.kind for r in refs] == ["image", "image", "image", "video", "audio"]
    assert [np.asarray(r.image).mean(axis=(0, 1)).argmax() for r in refs[:3]] == [0, 2, 1]  # red, blue, green
    video, audio = refs[3], refs[4]
    assert video.audio is not None and video.sample_rate == audio.sample_rate == 160  # the tiny VAE's rate
    assert audio.audio.shape[0] == 2 and audio.audio.shape[1] == 3 * 160  # 3 s clip, resampled by PyAV
    assert call["num_frames"] == 124 and call["height"] % 32 == 0 and call["width"] % 32 == 0
    assert (call["width"], call["height"]) == (64, 32)
    model_audio = call["state"].get("audio")
    assert model_audio.shape[-1] >= 5 * 160  # the model's own track: 124 frames ≈ 5.17 s at 160 Hz
    assert_contract(result.video_path, 864, 496, 5, has_audio=True)
    assert result.extra["adapter"] == "minimax_h3" and result.extra["audio"] == "generated"
    assert result.extra["duration_mapping"] == "trimmed"


def test_generate_audio_false_drops_the_track(engine: DiffusionEngine, tmp_path: Path) -> None:
    result = engine.generate(make_job(tmp_path, "@Image1 waves", audio=False), FakeContext())
    assert_contract(result.video_path, 864, 496, 5, has_audio=False)
    assert result.has_audio is False and result.extra["audio"] is None


def test_same_seed_same_video_and_audio(engine: DiffusionEngine, tmp_path: Path) -> None:
    check_determinism(engine, tmp_path, JOB)


def test_cancellation_mid_denoise_and_monotonic_progress(engine: DiffusionEngine, tmp_path: Path) -> None:
    check_cancellation(engine, tmp_path, {"prompt": "@Image1 waves"})


def test_duration_edges_trim_and_extend(engine: DiffusionEngine, tmp_path: Path) -> None:
    """4 s: 124 frames generated, 96 kept; 15 s: 345 generated (the model's longest), held to 360."""
    assert check_duration_edges(engine, tmp_path, {"prompt": "@Image1 waves"}) == ["trimmed", "extended"]
