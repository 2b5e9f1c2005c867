"""Capability routing and the adapters' request mapping rules, without torch: folder configs, labels, frame
counts, keyframe positions, and what `describe_models` tells GET /v1/models."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from refvid.config import Settings
from refvid.contract import FAST_REFERENCE_MODEL, REFERENCE_MODEL
from refvid.engines.diffusion.adapters.ltx2 import image_order, keyframe_indexes, worded_prompt
from refvid.engines.diffusion.adapters.minimax_h3 import frame_count
from refvid.engines.diffusion.capabilities import (
    NO_CAPABLE_ENGINE,
    Needs,
    adapter_spec,
    describe_models,
    folder_capabilities,
    parse_folders,
)
from refvid.engines.diffusion.engine import DiffusionEngine
from refvid.engines.mention_labels import h3_prompt as labelled_prompt
from refvid.engines.mention_labels import ordered
from refvid.errors import TaskFailure
from refvid.media.info import MediaInfo, MediaKind, Reference


def folder(root: Path, name: str, adapter: str, *, ic_lora: bool = False, **extra: object) -> Path:
    path = root / name
    path.mkdir(parents=True)
    (path / "refvid.json").write_text(json.dumps({"adapter": adapter, **extra}))
    if ic_lora:
        (path / "ic_lora").mkdir()
        (path / "ic_lora" / "camera.safetensors").write_bytes(b"")
    return path


def ref(kind: MediaKind, index: int, sound: bool = False) -> Reference:
    info = MediaInfo(kind, "mp4" if kind == "video" else "png", 1, has_audio=sound or kind == "audio")
    return Reference(kind, index, f"https://example.test/{kind}{index}", Path(f"/nowhere/{kind}{index}"), info)


def test_folders_setting_parses_candidates_in_order() -> None:
    settings = Settings(diffusion_folders=f"{REFERENCE_MODEL}=minimax-h3|wan-vace-14b,{FAST_REFERENCE_MODEL}=ltx2")
    assert parse_folders(settings.diffusion_folders) == {REFERENCE_MODEL: ("minimax-h3", "wan-vace-14b"),
                                                         FAST_REFERENCE_MODEL: ("ltx2",)}


def test_adapter_is_found_from_refvid_json_or_the_model_index(tmp_path: Path) -> None:
    by_config = folder(tmp_path, "a", "ltx2")
    by_index = tmp_path / "b"
    by_index.mkdir()
    (by_index / "modular_model_index.json").write_text(json.dumps({"_class_name": "MiniMaxH3ModularPipeline"}))
    unknown = tmp_path / "c"
    unknown.mkdir()
    (unknown / "model_index.json").write_text(json.dumps({"_class_name": "SomethingElse"}))
    assert getattr(adapter_spec(by_config), "name", None) == "ltx2"
    assert getattr(adapter_spec(by_index), "name", None) == "minimax_h3"
    assert adapter_spec(unknown) is None


def test_ltx2_takes_a_video_only_with_an_ic_lora(tmp_path: Path) -> None:
    plain, with_lora = folder(tmp_path, "plain", "ltx2"), folder(tmp_path, "lora", "ltx2", ic_lora=True)
    spec = adapter_spec(plain)
    assert spec is not None
    assert folder_capabilities(spec, plain).videos == 0
    assert folder_capabilities(spec, with_lora).videos == 1
    assert folder_capabilities(spec, folder(tmp_path, "own", "ltx2", licence="Our licence")).licence == "Our licence"


def test_shortfalls_name_what_cannot_be_honoured(tmp_path: Path) -> None:
    spec = adapter_spec(folder(tmp_path, "ltx2", "ltx2"))
    assert spec is not None
    caps = folder_capabilities(spec, tmp_path / "ltx2")
    assert Needs({"image": 2}, True).shortfalls(caps) == []
    assert Needs({"image": 1, "video": 1, "audio": 2}, True).shortfalls(caps) == [
        "1 video reference (takes no video references)", "2 audio references (takes no audio references)"]


def test_routing_picks_the_first_capable_folder(tmp_path: Path) -> None:
    folder(tmp_path, "ltx2", "ltx2")
    folder(tmp_path, "h3", "minimax_h3")
    engine = DiffusionEngine(Settings(diffusion_weights=tmp_path, diffusion_folders=[f"{REFERENCE_MODEL}=ltx2|h3"]))
    assert engine.folder_for(REFERENCE_MODEL, Needs({"image": 3}, True)).name == "ltx2"
    assert engine.folder_for(REFERENCE_MODEL, Needs({"image": 1, "audio": 1}, True)).name == "h3"
    assert engine.folder_for(REFERENCE_MODEL, Needs({"video": 1}, False)).name == "h3"


def test_no_capable_folder_fails_with_a_specific_code(tmp_path: Path) -> None:
    folder(tmp_path, "ltx2", "ltx2")
    engine = DiffusionEngine(Settings(diffusion_weights=tmp_path, diffusion_folders=[f"{FAST_REFERENCE_MODEL}=ltx2"]))
    with pytest.raises(TaskFailure) as info:
        engine.folder_for(FAST_REFERENCE_MODEL, Needs({"image": 1, "audio": 1}, True))
    assert info.value.code == NO_CAPABLE_ENGINE
    assert "1 audio reference (takes no audio references)" in info.value.message and "ltx2" in info.value.message
    with pytest.raises(TaskFailure, match="not found") as missing:  # no folder at all: a setup problem
        engine.folder_for(REFERENCE_MODEL.replace("seedance", "other"), Needs({}, False))
    assert missing.value.code == "generation_failed"


def test_describe_models_lists_folders_adapters_and_licences(tmp_path: Path) -> None:
    folder(tmp_path, "minimax-h3", "minimax_h3")
    folder(tmp_path, "ltx2", "ltx2", ic_lora=True)
    settings = Settings(diffusion_weights=tmp_path,
                        diffusion_folders=[f"{REFERENCE_MODEL}=minimax-h3|gone", f"{FAST_REFERENCE_MODEL}=ltx2"])
    described = describe_models(settings)
    standard, fast = described[REFERENCE_MODEL], described[FAST_REFERENCE_MODEL]
    assert standard["engine"] == "diffusion" and standard["adapters"] == ["minimax_h3"]
    h3, gone = standard["folders"]
    assert h3["accepts"] == {"image": 9, "video": 3, "audio": 3, "total": 12} and h3["audio"] == "generated"
    assert h3["licence"] == "MiniMax H3 Community License" and h3["present"]
    assert gone == {"folder": "gone", "present": False, "adapter": None}
    assert fast["folders"][0]["accepts"]["video"] == 1 and fast["folders"][0]["licence"] == "LTX-2 Community License"
    json.dumps(described)  # JSON-ready for the API


def test_describe_models_stays_light(tmp_path: Path) -> None:
    """The API process calls it: it must not import torch or diffusers."""
    folder(tmp_path, "minimax-h3", "minimax_h3")
    code = ("import sys; from refvid.config import Settings; "
            "from refvid.engines.diffusion.capabilities import describe_models; "
            f"describe_models(Settings(diffusion_weights={str(tmp_path)!r})); "
            "print(sorted(m for m in ('torch', 'diffusers', 'transformers') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_h3_labels_follow_its_own_numbering() -> None:
    refs = [ref("image", 0), ref("image", 1), ref("video", 0, sound=True), ref("video", 1), ref("audio", 0),
            ref("audio", 1)]
    prompt = "@Image2 and @图片1 move like @Video2, voice @Audio1, music @audio2, camera @Video1"
    # the video with sound takes <Audio 1>, so standalone audio clips start at <Audio 2>
    assert labelled_prompt(prompt, refs) == ("<Picture 2> and <Picture 1> move like <Video 2>, voice <Audio 2>, "
                                             "music <Audio 3>, camera <Video 1>")
    mixed = [ref("audio", 0), ref("video", 0), ref("image", 0)]
    assert [r.kind for r in ordered(mixed)] == ["image", "video", "audio"]


@pytest.mark.parametrize(("seconds", "frames"), [(4, 124), (5, 124), (6, 158), (14, 345), (15, 345)])
def test_h3_frame_counts_stay_in_its_window(seconds: int, frames: int) -> None:
    assert frame_count(seconds) == frames and (frames - 5) % 17 == 0


def test_ltx2_keyframes_first_last_and_spread() -> None:
    assert keyframe_indexes(1, 97, 8) == [0]
    assert keyframe_indexes(2, 97, 8) == [0, 96]
    assert keyframe_indexes(3, 121, 8) == [0, 64, 120]  # 60 is off the latent grid
    assert all(i % 8 == 0 for i in keyframe_indexes(9, 361, 8))
    assert image_order("@Image3 then @image1", 4) == [2, 0, 1, 3]
    assert worded_prompt("@Image3 then @image1 like @Video1", [2, 0, 1]) == (
        "the first keyframe then the second keyframe like the reference video")
