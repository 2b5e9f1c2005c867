"""Issue 15 acceptance on the engine: one 1200×800 image, no other reference, 4 s, 480p, seed 1; the decoded
frames are measured (phase correlation, feature matching, colour), not the engine's own numbers.

Convention: "pan left" turns the camera left, so the content moves right (dx > 0); "zoom in" grows it.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import cv2
import numpy as np
import pytest

from refvid.engines.base import EngineOutput
from tests.support.compositor import probe_ref, run_engine
from tests.support.frame_motion import decode_rgb, saturation, similarity, similarity_matrix, travel, warmth
from tests.support.media_factory import make_image, make_video

ROOT: list[Path] = []


@pytest.fixture(scope="module", autouse=True)
def _folder(tmp_path_factory: pytest.TempPathFactory) -> None:
    ROOT[:] = [tmp_path_factory.mktemp("prompt-acceptance")]
    make_image(ROOT[0] / "photo.png", 1200, 800, seed=15)


@cache
def render(prompt: str) -> tuple[EngineOutput, tuple[np.ndarray, ...]]:
    work = ROOT[0] / f"run{len(list(ROOT[0].iterdir()))}"
    out = run_engine(work, [probe_ref("image", ROOT[0] / "photo.png")], prompt, audio=False)
    return out, tuple(decode_rgb(out.video_path))


@pytest.mark.parametrize("prompt", ["pan left", "镜头向左平移", "@Image1, slow pan left", "PAN LEFT, 黑白"])
def test_pan_left_moves_the_content_right(prompt: str) -> None:
    frames = render(prompt)[1]
    dx, dy = travel(frames[0], frames[-1])
    assert dx >= 20 and abs(dy) < 3


@pytest.mark.parametrize("prompt", ["pan right", "镜头向右平移", "@图片1 右摇"])
def test_pan_right_moves_the_content_left(prompt: str) -> None:
    frames = render(prompt)[1]
    dx, dy = travel(frames[0], frames[-1])
    assert dx <= -20 and abs(dy) < 3


@pytest.mark.parametrize(("prompt", "grows"), [("zoom in", True), ("push in", True), ("镜头推近", True),
                                               ("zoom out", False), ("镜头拉远", False), ("pull back", False)])
def test_zoom_words_grow_or_shrink_the_content(prompt: str, grows: bool) -> None:
    frames = render(prompt)[1]
    scale = similarity(frames[0], frames[-1])[0]
    assert scale >= 1.08 if grows else scale <= 1 / 1.08


@pytest.mark.parametrize("prompt", ["static camera", "固定镜头", "@Image1 locked-off"])
def test_static_camera_holds_still(prompt: str) -> None:
    out, frames = render(prompt)
    assert out.extra["accents"] == []
    assert np.abs(frames[0].astype(int) - frames[-1].astype(int)).mean() < 3.0  # codec noise only
    dx, dy = travel(frames[0], frames[len(frames) // 2])
    assert abs(dx) < 0.5 and abs(dy) < 0.5


def test_no_words_still_gives_a_clearly_visible_move() -> None:
    frames = render("@Image1")[1]
    scale, dx, dy = similarity(frames[0], frames[-1])
    assert abs(scale - 1) >= 0.04 or np.hypot(dx, dy) >= 0.04 * frames[0].shape[1] * 4 / 5  # ≥ 5 % / 5 s


@pytest.mark.parametrize("prompt", ["black and white", "黑白", "Monochrome, zoom in"])
def test_black_and_white_is_monochrome(prompt: str) -> None:
    frames = render(prompt)[1]
    assert max(saturation(frames[k]) for k in (0, 48, 95)) < 3


def test_warm_golden_hour_is_warmer_than_cold_blue_night() -> None:
    warm, plain, cold = (render(p)[1] for p in ("warm golden hour", "", "cold blue night"))
    assert warmth(warm[48]) > warmth(plain[48]) + 10 > warmth(cold[48]) + 20
    assert warmth(render("暖色")[1][48]) > warmth(plain[48]) + 10 > warmth(render("冷色")[1][48]) + 20


def test_words_change_pixels_and_order_does_not() -> None:
    butterflies = render("@Image1 explodes into a thousand butterflies at dawn, slow motion")[1]
    morning = render("@Image1, a quiet morning")[1]
    assert not np.array_equal(butterflies[48], morning[48])
    assert not np.array_equal(render("@Image1 a cat")[1][48], render("@Image1 a dog")[1][48])
    a = render("zoom in and pan left, warm golden hour")[1]
    b = render("warm golden hour, pan left and zoom in")[1]
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    zh = render("镜头推近，向左平移，暖色")[1]
    assert similarity(a[0], a[-1])[0] == pytest.approx(similarity(zh[0], zh[-1])[0], abs=0.03)
    assert warmth(zh[48]) == pytest.approx(warmth(a[48]), abs=4)


def test_camera_like_the_video_wins_over_words(tmp_path: Path) -> None:
    video = make_video(tmp_path / "camera.mp4", 480, 270, seconds=3.0)  # pans right, zooms in, rolls
    refs = [probe_ref("image", ROOT[0] / "photo.png"), probe_ref("video", video)]
    asked = run_engine(tmp_path / "a", refs, "@Image1 pan left, camera like @Video1", audio=False)
    words = run_engine(tmp_path / "b", refs, "@Image1 pan left", audio=False)
    assert asked.extra["motion"] == ["@Video1"] and words.extra["motion"] == "words"
    a, b = decode_rgb(asked.video_path), decode_rgb(words.video_path)
    assert travel(a[0], a[-1])[0] < 0 < 20 <= travel(b[0], b[-1])[0]  # the video pans right: content left


def test_blur_fill_moves_with_the_picture(tmp_path: Path) -> None:
    """No seam: a portrait picture in 16:9 is shown whole over its blurred copy; during a move the fill
    travels and grows with the picture (one warp of one canvas), so the sharp edge never slides over it."""
    portrait = make_image(tmp_path / "portrait.png", 500, 900, seed=8)
    out = run_engine(tmp_path / "w", [probe_ref("image", portrait)], "pan right, zoom in", audio=False)
    assert out.extra["shots"][0]["fit"] == "blur_fill"
    frames = decode_rgb(out.video_path)
    first, later = frames[0], frames[48]
    m = similarity_matrix(first, later)  # found on the sharp picture's features
    assert np.hypot(m[0, 0], m[1, 0]) > 1.03 and m[0, 2] < -10  # it moved and grew
    predicted = cv2.warpAffine(first, m, (first.shape[1], first.shape[0]))
    for x0 in (30, first.shape[1] - 150):  # the blurred fill on either side
        region = np.s_[50:-50, x0:x0 + 120]
        moved_with = np.abs(predicted[region].astype(int) - later[region].astype(int)).mean()
        stayed = np.abs(first[region].astype(int) - later[region].astype(int)).mean()
        assert moved_with < 2.5 and stayed > 2 * moved_with


def test_words_near_a_mention_direct_only_that_shot(tmp_path: Path) -> None:
    second = make_image(tmp_path / "second.png", 1200, 800, seed=16)
    refs = [probe_ref("image", ROOT[0] / "photo.png"), probe_ref("image", second, 1)]
    out = run_engine(tmp_path / "w", refs, "@Image1 pans left in black and white, then @Image2 zooms in", audio=False)
    assert out.extra["cuts"] == [48]
    frames = decode_rgb(out.video_path)
    assert travel(frames[0], frames[38])[0] >= 15 and saturation(frames[20]) < 3
    assert similarity(frames[58], frames[-1])[0] >= 1.05 and saturation(frames[80]) > 30
