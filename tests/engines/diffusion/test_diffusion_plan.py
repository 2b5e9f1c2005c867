"""Diffusion engine planning and media helpers: no torch needed, so these run everywhere."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from refvid.engines.diffusion.media import (
    control_video,
    fit,
    flow_control,
    flow_rgb,
    output_frames,
    rewrite_prompt,
    sample_videos,
)
from refvid.engines.diffusion.plan import (
    PRESETS,
    ModelConfig,
    native_frame_count,
    native_size,
    plan_windows,
)
from refvid.engines.output import SIZES
from refvid.errors import TaskFailure
from refvid.media.info import MediaInfo, Reference
from refvid.media.prompt_refs import VideoRole, mention_order
from tests.support.media_factory import camera_frames, make_video, pan_zoom_rotate


@pytest.mark.parametrize("resolution", ["480p", "720p"])
@pytest.mark.parametrize("ratio", list(SIZES["480p"]))
def test_native_size_keeps_ratio_area_and_grid(resolution: str, ratio: str) -> None:
    width, height = SIZES[resolution][ratio]
    area = 832 * 480
    w, h = native_size(width, height, area, 16)
    assert w % 16 == 0 and h % 16 == 0
    assert abs(w * h - area) / area < 0.12
    assert abs((w / h) / (width / height) - 1) < 0.1


def test_native_size_of_the_reference_grid() -> None:
    assert native_size(864, 496, 832 * 480, 16) == (832, 480)
    assert native_size(1280, 720, 1280 * 720, 16) == (1280, 720)


@pytest.mark.parametrize(("seconds", "expected"), [(4, 65), (5, 81), (15, 241)])
def test_native_frame_count_covers_the_output_timeline(seconds: int, expected: int) -> None:
    count = native_frame_count(seconds * 24, 24, 16, 4)
    assert count == expected
    assert (count - 1) % 4 == 0
    assert (seconds * 24 - 1) * 16 // 24 + 1 <= count - 1  # the last output frame has a right neighbour


@pytest.mark.parametrize("total", [17, 81, 85, 161, 241])
def test_windows_cover_everything_with_valid_lengths(total: int) -> None:
    windows = plan_windows(total, 81, 17)
    assert windows[0][0] == 0
    assert windows[-1][0] + windows[-1][1] == total
    for (start, length), (next_start, _) in itertools.pairwise(windows):
        assert next_start == start + length - 17
    assert all((length - 1) % 4 == 0 and length <= 81 for _, length in windows)


def test_presets() -> None:
    assert set(PRESETS) == {"quality", "balanced", "fast"}
    assert PRESETS["quality"].cache == "none" and not PRESETS["quality"].compile
    assert PRESETS["fast"].steps < PRESETS["balanced"].steps < PRESETS["quality"].steps
    assert PRESETS["fast"].use_lora


def test_model_config_overrides(tmp_path: Path) -> None:
    (tmp_path / "refvid.json").write_text(json.dumps({"steps": {"fast": 3}, "fps": 8}))
    cfg = ModelConfig.load(tmp_path, ModelConfig(adapter="wan"))
    assert (cfg.adapter, cfg.fps, cfg.steps_for(PRESETS["fast"]), cfg.steps_for(PRESETS["quality"])) == (
        "wan", 8, 3, 40)
    (tmp_path / "refvid.json").write_text(json.dumps({"no_such_key": 1}))
    with pytest.raises(TaskFailure, match=r"refvid\.json"):
        ModelConfig.load(tmp_path)


def test_mention_order_and_prompt_rewrite() -> None:
    prompt = "@Image3 dances with the @image1 while the camera moves like @Video1; ignore @Image9"
    images = mention_order(prompt, "image", 3)
    assert images == [2, 0, 1]
    text = rewrite_prompt(prompt, {"image": images, "video": [0]})
    assert text == ("the first reference image dances with the second reference image while the camera moves "
                    "like the first reference video; ignore the ninth reference image")
    assert "@" not in rewrite_prompt("@Audio1 plays", {"audio": [0]})


def test_chinese_tokens_become_chinese_words() -> None:
    prompt = "@图像2 和 @图像1 跳舞，镜头像 @视频1"
    order = mention_order(prompt, "image", 2)
    assert order == [1, 0]
    expected = "第一张参考图 和 第二张参考图 跳舞，镜头像 第一个参考视频"
    assert rewrite_prompt(prompt, {"image": order, "video": [0]}) == expected


def test_fit_is_exact() -> None:
    frame = np.zeros((480, 832, 3), np.uint8)
    for width, height in [(864, 496), (560, 752), (1470, 630), (640, 640)]:
        assert fit(frame, width, height).shape == (height, width, 3)


def test_output_frames_resample_16_to_24_fps() -> None:
    native = np.stack([np.full((4, 6, 3), 3 * i, np.uint8) for i in range(81)])
    frames = list(output_frames(native, 16, 120, 24, 8, 4))
    assert len(frames) == 120 and frames[0].shape == (4, 8, 3)
    # output frame 1 sits 2/3 of the way from native frame 0 to native frame 1
    assert [int(f[0, 0, 0]) for f in frames[:5]] == [0, 2, 4, 6, 8]
    assert int(frames[-1][0, 0, 0]) == round(3 * 119 * 16 / 24)
    nearest = [int(f[0, 0, 0]) for f in output_frames(native, 16, 5, 24, 8, 4, mode="nearest")]
    assert nearest == [0, 3, 3, 6, 9]


def test_flow_colours() -> None:
    still = flow_rgb(np.zeros((4, 4, 2), np.float32))
    assert (still == 255).all()  # no motion is white, never amplified noise
    right = flow_rgb(np.dstack([np.full((4, 4), 5.0), np.zeros((4, 4))]).astype(np.float32))
    left = flow_rgb(np.dstack([np.full((4, 4), -5.0), np.zeros((4, 4))]).astype(np.float32))
    assert (right[0, 0] != left[0, 0]).any()
    assert right.std(axis=(0, 1)).max() == 0  # a uniform pan is a uniform colour


def test_camera_control_shows_a_pan_as_one_colour_and_a_zoom_as_many() -> None:
    frames = np.stack(camera_frames(160, 96, 24, pan_zoom_rotate))
    control = flow_control(frames, "camera")
    assert control.shape == frames.shape and control.dtype == np.uint8
    pan, zoom = control[4].reshape(-1, 3).astype(np.float32), control[12].reshape(-1, 3).astype(np.float32)
    expected = flow_rgb(np.array([[[-1.0, 0.0]]], np.float32))[0, 0]  # content moves left
    assert np.abs(pan.mean(axis=0) - expected).max() < 30 and pan.std(axis=0).max() < 20
    assert zoom.std(axis=0).max() > 40  # radial flow: every direction at once
    dense = flow_control(frames, "flow")
    assert dense.shape == frames.shape


def test_control_video_keeps_footage_and_turns_motion_into_flow() -> None:
    frames = np.stack(camera_frames(160, 96, 12, lambda t: (60.0 * t, 0.0, 0.0, 1.0)))
    roles: list[VideoRole] = ["content" if i < 6 else "motion" for i in range(12)]
    control = control_video(frames, roles)
    assert np.array_equal(control[:6], frames[:6])
    assert np.array_equal(control[6:], flow_control(frames[6:]))
    motion_only: list[VideoRole] = ["motion"] * 12
    assert np.array_equal(control_video(frames, motion_only, "raw"), frames)


def _video_ref(path: Path, index: int, seconds: float) -> Reference:
    info = MediaInfo(kind="video", format="mp4", size_bytes=path.stat().st_size, width=160, height=96,
                     duration_s=seconds, fps=24, has_video=True)
    return Reference("video", index, f"file://{path}", path, info)


def test_sample_videos_plays_references_in_turn_then_holds(tmp_path: Path) -> None:
    a = _video_ref(make_video(tmp_path / "a.mp4", 160, 96, seconds=1.0, seed=1), 0, 1.0)
    b = _video_ref(make_video(tmp_path / "b.mp4", 160, 96, seconds=1.0, seed=2), 1, 1.0)
    frames, sources = sample_videos([a, b], fps=16, count=40, width=64, height=32)
    assert frames.shape == (40, 32, 64, 3)
    assert sources == [0] * 16 + [1] * 24
    assert not np.array_equal(frames[15], frames[16])  # cut from a to b at 1 s
    assert np.array_equal(frames[32], frames[39])  # held after 2 s


def test_importing_the_engine_does_not_import_torch() -> None:
    code = ("import sys, refvid.engines.diffusion.engine, refvid.engines.diffusion.adapters.wan, "
            "refvid.engines.diffusion.tiny_weights; "
            "print('torch' in sys.modules, 'diffusers' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
