"""The MiniMax-H3 and LTX-2 adapters' tiny-weights scenarios on CUDA (bf16; H3's text encoder moved back to
the CPU after encoding). Run with `pytest -m gpu`; skipped where no CUDA device is present."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("torch")
pytest.importorskip("torchvision")
pytest.importorskip("diffusers.modular_pipelines.minimax_h3")

import torch

from refvid.contract import FAST_REFERENCE_MODEL, REFERENCE_MODEL
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

if not torch.cuda.is_available():
    pytest.skip("no CUDA device", allow_module_level=True)

pytestmark = pytest.mark.gpu
JOBS: dict[str, dict[str, Any]] = {
    "minimax-h3": {"prompt": "@Image1 walks like @Video1 to @Audio1", "images": 1, "videos": 1, "audios": 1,
                   "video_sound": True, "model": REFERENCE_MODEL},
    "ltx2": {"prompt": "@Image2 turns into @Image1", "images": 2, "model": FAST_REFERENCE_MODEL},
}


@pytest.fixture(scope="module", params=list(JOBS))
def engine(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DiffusionEngine]:
    root = tmp_path_factory.mktemp("weights")
    write_tiny_weights(root, request.param)
    warm = make_engine(root, "cuda")
    warm.job = JOBS[request.param]  # type: ignore[attr-defined]
    yield warm
    warm.close()


def test_runs_on_cuda_in_bf16(engine: DiffusionEngine, tmp_path: Path) -> None:
    job = make_job(tmp_path, **engine.job)  # type: ignore[attr-defined]
    result = engine.generate(job, FakeContext())
    assert result.video_path.exists() and result.extra["audio"] == "generated"
    adapter = engine.adapter_for(engine.folder_for(job.model))
    h3 = job.model == REFERENCE_MODEL
    transformer = adapter.pipe.transformer_ref if h3 else adapter.pipe.transformer
    assert transformer.device.type == "cuda" and transformer.dtype == torch.bfloat16
    if h3:  # the encoder took its turn on the GPU and went back to the CPU before denoising
        assert adapter.pipe.text_encoder.device.type == "cpu"


def test_same_seed_same_video_and_audio(engine: DiffusionEngine, tmp_path: Path) -> None:
    check_determinism(engine, tmp_path, engine.job)  # type: ignore[attr-defined]


def test_cancellation(engine: DiffusionEngine, tmp_path: Path) -> None:
    check_cancellation(engine, tmp_path, engine.job)  # type: ignore[attr-defined]


def test_duration_edges(engine: DiffusionEngine, tmp_path: Path) -> None:
    check_duration_edges(engine, tmp_path, engine.job)  # type: ignore[attr-defined]
