"""The diffusion engine's tiny-weights scenarios on CUDA (bf16, First Block Cache, regional compile: the
`balanced` preset's real path). Run with `pytest -m gpu`; skipped where no CUDA device is present."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("diffusers")

import torch

from refvid.engines.diffusion.engine import DiffusionEngine
from refvid.engines.diffusion.tiny_weights import write_tiny_weights
from tests.support.diffusion import (
    FAST,
    check_cancellation,
    check_contract_output,
    check_determinism,
    make_engine,
)

if not torch.cuda.is_available():
    pytest.skip("no CUDA device", allow_module_level=True)

pytestmark = pytest.mark.gpu


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DiffusionEngine]:
    root = tmp_path_factory.mktemp("weights")
    write_tiny_weights(root)
    warm = make_engine(root, "cuda")
    yield warm
    warm.close()


def test_runs_on_cuda_in_bf16(engine: DiffusionEngine) -> None:
    adapter = engine.adapter_for(engine.folder_for(FAST))
    assert adapter.pipe.transformer.device.type == "cuda"
    assert adapter.pipe.transformer.dtype == torch.bfloat16
    assert adapter.pipe.vae.dtype == torch.float32  # Wan's VAE stays fp32
    assert adapter.pipe.transformer.is_cache_enabled


def test_output_is_contract_conformant(engine: DiffusionEngine, tmp_path: Path) -> None:
    check_contract_output(engine, tmp_path / "plain", audio=False)
    check_contract_output(engine, tmp_path / "audio", audio=True)


def test_same_seed_same_frames(engine: DiffusionEngine, tmp_path: Path) -> None:
    check_determinism(engine, tmp_path)


def test_cancellation(engine: DiffusionEngine, tmp_path: Path) -> None:
    check_cancellation(engine, tmp_path)
