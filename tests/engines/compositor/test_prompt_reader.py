"""The compositor's prompt reader: the words it obeys in English and Chinese, clause scoping, speed words,
order independence. Pure functions, no media."""

from __future__ import annotations

import numpy as np
import pytest

from refvid.engines.compositor.direction import fade_frames, uses_video_camera
from refvid.engines.compositor.moves import default_move, word_move
from refvid.engines.compositor.prompt_reader import CameraWords, Move, read_prompt

IMAGE1, IMAGE2 = ("image", 0), ("image", 1)


@pytest.mark.parametrize(("english", "chinese", "move"), [
    ("pan left", "镜头向左平移", "pan_left"),
    ("Pan Right", "镜头向右平移", "pan_right"),
    ("the camera pans to the left", "左摇", "pan_left"),
    ("TILT UP", "上摇", "tilt_up"),
    ("tilt down", "下摇", "tilt_down"),
    ("zoom in", "镜头推近", "zoom_in"),
    ("push in", "推镜头", "zoom_in"),
    ("dolly in", "拉近", "zoom_in"),
    ("zoom out", "镜头拉远", "zoom_out"),
    ("pull back", "拉镜头", "zoom_out"),
    ("orbit around her", "环绕拍摄", "orbit"),
    ("static camera", "固定镜头", "static"),
    ("locked-off shot", "镜头固定", "static"),
    ("handheld, shaky", "手持", "handheld"),
    ("crane up", "升镜头", "crane_up"),
    ("crane down", "降镜头", "crane_down"),
])
def test_camera_words_in_both_languages(english: str, chinese: str, move: str) -> None:
    en, zh = read_prompt(english), read_prompt(chinese)
    assert en.camera.moves == zh.camera.moves == {move}


@pytest.mark.parametrize(("prompt", "speed"), [
    ("slow pan left", "slow"), ("a gentle push in", "slow"), ("缓慢向左平移", "slow"),
    ("fast zoom in", "fast"), ("whip pan right", "fast"), ("快速推近", "fast"), ("pan left", None),
])
def test_speed_words(prompt: str, speed: str | None) -> None:
    assert read_prompt(prompt).camera.speed == speed


def test_speed_words_scale_the_move() -> None:
    slow, normal, fast = (word_move(CameraWords(frozenset({"pan_left"}), s), 96, 24, 1, 0)[-1, 0]
                          for s in ("slow", None, "fast"))
    assert 0 < slow < normal < fast


def test_words_near_a_mention_apply_to_that_shot_and_the_rest_to_the_clip() -> None:
    d = read_prompt("@Image1 pans left slowly, then @Image2 zooms out. Black and white, warm light")
    assert d.camera_for(IMAGE1) == CameraWords(frozenset({"pan_left"}), "slow")
    assert d.camera_for(IMAGE2) == CameraWords(frozenset({"zoom_out"}), None)
    assert d.looks == {"mono", "warm"}
    zh = read_prompt("@图片1 缓慢向左平移，@图片2 镜头拉远。黑白，暖色")
    assert (zh.camera_for(IMAGE1), zh.camera_for(IMAGE2), zh.looks) == (d.camera_for(IMAGE1), d.camera_for(IMAGE2),
                                                                        d.looks)


def test_looks_near_a_mention_grade_only_that_shot() -> None:
    d = read_prompt("@Image1 in black and white, @Image2 at sunset. Film grain")
    assert d.looks_for(IMAGE1) == {"mono", "grain"} and d.looks_for(IMAGE2) == {"warm", "grain"}
    assert d.looks == {"grain"}


def test_a_shot_overrides_the_clip_on_its_own_axis_only() -> None:
    d = read_prompt("zoom in, pan right. @Image1 pans left, @Image2 static")
    assert d.camera_for(IMAGE1).moves == {"pan_left", "zoom_in"}
    assert d.camera_for(IMAGE2).moves == {"static"}
    assert d.camera_for(("image", 2)).moves == {"zoom_in", "pan_right"}


def test_order_and_language_give_the_same_directions() -> None:
    a = read_prompt("@Image1, zoom in and pan left, warm golden hour, film grain")
    b = read_prompt("@Image1, film grain, warm golden hour, pan left and zoom in")
    c = read_prompt("@图片1，镜头推近，向左平移，暖色，颗粒")
    assert a == b
    assert (c.camera, c.looks) == (a.camera, a.looks)
    assert read_prompt("@Image1 a cat").variation != read_prompt("@Image1 a dog").variation
    assert read_prompt("a red car by the sea").variation == read_prompt("by the sea a car red").variation


@pytest.mark.parametrize(("prompt", "looks"), [
    ("black and white", {"mono"}), ("MONOCHROME", {"mono"}), ("黑白", {"mono"}),
    ("warm golden hour", {"warm"}), ("sunset", {"warm"}), ("暖色", {"warm"}),
    ("cold blue night", {"cold"}), ("冷色", {"cold"}), ("high contrast", {"contrast"}),
    ("faded", {"faded"}), ("vintage", {"faded", "grain"}), ("film grain", {"grain"}), ("neon", {"neon"}),
    ("霓虹", {"neon"}), ("a cat on a sofa", set()),
])
def test_grade_words(prompt: str, looks: set[str]) -> None:
    assert read_prompt(prompt).looks == looks


def test_pace_transition_and_rhythm() -> None:
    calm = read_prompt("slow motion, lingering on @Image1, crossfade")
    assert (calm.pace, calm.transition) == ("calm", "crossfade")
    assert fade_frames(calm, cut_on_beats=True) > fade_frames(read_prompt(""), cut_on_beats=False) > 0
    fast = read_prompt("fast cuts, energetic")
    assert (fast.pace, fast.transition) == ("energetic", "hard") and fade_frames(fast, cut_on_beats=False) == 0
    assert read_prompt("叠化").transition == "crossfade" and read_prompt("硬切").transition == "hard"
    assert fade_frames(read_prompt(""), cut_on_beats=True) == 0  # a reference audio's beats: hard cuts
    assert read_prompt("cut on the beat").rhythm and read_prompt("卡点").rhythm and not read_prompt("a cat").rhythm


def test_a_video_camera_wins_only_when_asked_or_when_nothing_else_is_said() -> None:
    asked = read_prompt("@Image1 pans left, camera like @Video1")
    assert asked.camera_from_video and uses_video_camera(asked, has_videos=True)
    words = read_prompt("@Image1, pan left")
    assert not uses_video_camera(words, has_videos=True)
    assert uses_video_camera(read_prompt("@Image1 at dawn"), has_videos=True)
    assert not uses_video_camera(read_prompt("@Image1 at dawn"), has_videos=False)


def test_mentions_come_from_the_one_grammar() -> None:
    d = read_prompt("@图像2 向右平移, @IMAGE1 zoom in")
    assert d.camera_for(IMAGE2).moves == {"pan_right"} and d.camera_for(IMAGE1).moves == {"zoom_in"}


def test_moves_follow_the_direction_convention() -> None:
    def final(*moves: Move) -> np.ndarray:
        return np.asarray(word_move(CameraWords(frozenset(moves)), 96, 24, 3, 0)[-1])

    assert final("pan_left")[0] > 0 > final("pan_right")[0]  # content moves opposite to the camera
    assert final("tilt_up")[1] > 0 > final("tilt_down")[1]  # y grows downwards
    assert final("zoom_in")[3] > 0 > final("zoom_out")[3]
    assert not final("static").any()
    assert np.allclose(word_move(CameraWords(frozenset({"pan_left"})), 96, 24, 3, 0)[0], 0)


def test_default_move_is_visible_and_seeded() -> None:
    for seed in range(20):
        move = default_move(121, 24, seed, 0)  # 5 s
        zoom = abs(np.expm1(move[-1, 3]))
        travel = float(np.hypot(*move[-1, :2]))
        assert zoom >= 0.05 or travel * np.sqrt(9 / 16) >= 0.04  # √area units → share of a 16:9 width
        assert zoom <= 0.075
    assert not np.array_equal(default_move(96, 24, 1, 0), default_move(96, 24, 1, 1))
    assert np.array_equal(default_move(96, 24, 1, 5), default_move(96, 24, 1, 5))
