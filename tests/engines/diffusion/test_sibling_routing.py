"""Issue 17 on the diffusion engine, without torch: which adapters serve text- and image-to-video, how the sibling
models are routed to a capable weights folder, what fails with `no_capable_engine`, and where image-to-video's
frames are kept on the native timeline."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from refvid import catalog
from refvid.config import Settings
from refvid.contract import (
    FAST_IMAGE_MODEL,
    FAST_REFERENCE_MODEL,
    FAST_TEXT_MODEL,
    IMAGE_MODEL,
    MODES,
    REFERENCE_MODEL,
    TEXT_MODEL,
)
from refvid.engines import registry
from refvid.engines.base import EngineInput
from refvid.engines.diffusion.capabilities import (
    ADAPTERS,
    DEFAULT_FOLDERS,
    NO_CAPABLE_ENGINE,
    Needs,
    adapter_spec,
    describe_models,
    folder_capabilities,
    h3_workflows,
)
from refvid.engines.diffusion.engine import DiffusionEngine, keyframes
from refvid.engines.output import OutputSpec
from refvid.errors import TaskFailure
from refvid.media.info import MediaInfo, Reference
from tests.support.media_factory import make_image


def folder(root: Path, name: str, adapter: str, *, h3_transformer: bool = False) -> Path:
    path = root / name
    path.mkdir(parents=True)
    (path / "refvid.json").write_text(json.dumps({"adapter": adapter}))
    if adapter == "minimax_h3":
        index = {"_class_name": "MiniMaxH3ModularPipeline", "transformer_ref": ["diffusers", "X", {}]}
        if h3_transformer:
            index["transformer"] = ["diffusers", "X", {}]
            (path / "transformer").mkdir()
        (path / "modular_model_index.json").write_text(json.dumps(index))
    return path


def frame_job(tmp: Path, model: str, frames: int, seconds: int = 4) -> EngineInput:
    tmp.mkdir(parents=True, exist_ok=True)
    refs = [Reference("image", i, f"https://example.test/f{i}.png",
                      make_image(tmp / f"f{i}.png", 400, 300, seed=i, tint=((255, 0, 0), (0, 0, 255))[i]),
                      MediaInfo("image", "png", 1)) for i in range(frames)]
    return EngineInput("t", model, "a kite", refs, OutputSpec.build("480p", "16:9", seconds, False, 7), tmp)


def test_every_adapter_declares_its_modes_and_the_engine_offers_all() -> None:
    assert ADAPTERS["wan"].capabilities.modes == ADAPTERS["ltx2"].capabilities.modes == MODES
    assert ADAPTERS["minimax_h3"].capabilities.modes == ("reference",)  # until a folder shows its t2va half
    offers = registry.model_offers(Settings(routes=",".join(f"{m.id}=diffusion" for m in catalog.BUILT_IN)))
    assert set(offers) == {m.id for m in catalog.BUILT_IN} and {o.engine for o in offers.values()} == {"diffusion"}


def test_sibling_models_have_their_tiers_candidates() -> None:
    standard, fast = DEFAULT_FOLDERS[REFERENCE_MODEL], DEFAULT_FOLDERS[FAST_REFERENCE_MODEL]
    assert DEFAULT_FOLDERS[IMAGE_MODEL] == DEFAULT_FOLDERS[TEXT_MODEL] == standard
    assert DEFAULT_FOLDERS[FAST_IMAGE_MODEL] == DEFAULT_FOLDERS[FAST_TEXT_MODEL] == fast


def test_h3_serves_the_siblings_only_with_its_t2va_partition(tmp_path: Path) -> None:
    assert {"t2va", "fl2va", "ref2va"} <= h3_workflows()  # diffusers 0.42.1 defines them (read, not imported)
    half = folder(tmp_path, "half", "minimax_h3")
    whole = folder(tmp_path, "whole", "minimax_h3", h3_transformer=True)
    spec = adapter_spec(half)
    assert spec is not None
    assert folder_capabilities(spec, half).modes == ("reference",)
    assert folder_capabilities(spec, whole).modes == MODES
    listed = describe_models(Settings(diffusion_weights=tmp_path, diffusion_folders=[f"{TEXT_MODEL}=half|whole"]))
    assert [f["modes"] for f in listed[TEXT_MODEL]["folders"]] == [("reference",), MODES]


def test_needs_name_the_mode_and_an_end_frame_a_short_clip_would_trim() -> None:
    h3, wan = ADAPTERS["minimax_h3"].capabilities, ADAPTERS["wan"].capabilities
    assert Needs({}, False, "text").shortfalls(h3) == ["text-to-video"]
    assert Needs({}, False, "text").shortfalls(wan) == []
    whole = h3.__class__(**{**h3.__dict__, "modes": MODES})
    assert Needs({}, True, "image", end_frame=False, duration_s=4).shortfalls(whole) == []
    assert "end frame in a 5 s video" in Needs({}, True, "image", end_frame=True, duration_s=5).shortfalls(whole)[0]
    assert Needs({}, True, "image", end_frame=True, duration_s=6).shortfalls(whole) == []
    assert Needs({}, False, "image", end_frame=True, duration_s=4).shortfalls(wan) == []


def test_routing_picks_the_first_folder_that_serves_the_mode(tmp_path: Path) -> None:
    folder(tmp_path, "minimax-h3", "minimax_h3")  # the ref2va half only
    folder(tmp_path, "wan-vace", "wan")
    engine = DiffusionEngine(Settings(diffusion_weights=tmp_path), folders={
        TEXT_MODEL: "minimax-h3|wan-vace", IMAGE_MODEL: "minimax-h3", REFERENCE_MODEL: "minimax-h3"})
    text = EngineInput("t", TEXT_MODEL, "a kite", [], OutputSpec.build("480p", "16:9", 4, False, 7), tmp_path)
    assert engine.folder_for(TEXT_MODEL, engine.needs(text)).name == "wan-vace"
    frames = frame_job(tmp_path, IMAGE_MODEL, 2)
    assert engine.needs(frames).counts == {}  # frames are not references
    with pytest.raises(TaskFailure) as failure:
        engine.folder_for(IMAGE_MODEL, engine.needs(frames))
    assert failure.value.code == NO_CAPABLE_ENGINE
    assert "minimax-h3 (minimax_h3): cannot take image-to-video (first/last frame)" in failure.value.message


def test_keyframes_hold_the_first_frame_at_0_and_the_end_frame_where_the_output_ends(tmp_path: Path) -> None:
    job = frame_job(tmp_path, FAST_IMAGE_MODEL, 2)  # 4 s: 96 output frames at 24 fps
    kept = keyframes(job, 64, 32, 65, 16)  # Wan's 65 native frames at 16 fps: output frame 95 ↔ native 63.3
    assert sorted(kept) == [0, 63, 64]
    assert kept[0].shape == (32, 64, 3) and kept[0][..., 0].mean() > kept[0][..., 2].mean()  # the red first frame
    assert np.array_equal(kept[63], kept[64]) and kept[64][..., 2].mean() > kept[64][..., 0].mean()  # blue end
    assert sorted(keyframes(frame_job(tmp_path / "one", FAST_IMAGE_MODEL, 1), 64, 32, 65, 16)) == [0]
    text = EngineInput("t", FAST_TEXT_MODEL, "a kite", [], job.output, tmp_path)
    assert keyframes(text, 64, 32, 65, 16) == {}


def test_the_workflow_check_imports_no_torch() -> None:
    code = ("import sys; from refvid.engines.diffusion.capabilities import h3_workflows; h3_workflows(); "
            "assert 'torch' not in sys.modules and 'diffusers' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)
