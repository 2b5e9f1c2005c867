"""The compositor's sibling modes: image-to-video lands on the client's first and last frames and moves by
the prompt's camera words; text-to-video's title card is deterministic per seed and prompt, sets the words it
has glyphs for (never boxes) and wraps long prompts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from refvid.contract import FAST_IMAGE_MODEL, IMAGE_MODEL, TEXT_MODEL
from refvid.engines.compositor import lettering
from refvid.engines.compositor.first_last import load_rgb
from refvid.engines.compositor.framing import fit_frame
from tests.support import media_factory as mf
from tests.support.compositor import decode_frames, probe_ref, run_engine
from tests.support.seen import text_likeness
from tests.support.video_checks import assert_contract

W, H = 864, 496  # 480p 16:9


def mean_abs(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.mean(np.abs(a.astype(np.int16) - b.astype(np.int16))))


def frames_of(tmp_path: Path, tint_first: tuple[int, int, int], tint_last: tuple[int, int, int]) -> list[Path]:
    first = mf.write_image(tmp_path / "first.png", mf.textured_rgb(640, 480, seed=1, tint=tint_first))
    last = mf.write_image(tmp_path / "last.png", mf.textured_rgb(480, 640, seed=2, tint=tint_last))
    return [first, last]


def test_image_to_video_starts_on_the_first_frame_and_ends_on_the_last(tmp_path: Path) -> None:
    first, last = frames_of(tmp_path, (200, 60, 40), (40, 90, 210))
    refs = [probe_ref("image", first, 0), probe_ref("image", last, 1)]
    out = run_engine(tmp_path / "work", refs, "slow zoom in, then pan left", model=IMAGE_MODEL, audio=False)
    assert_contract(out.video_path, W, H, 4, has_audio=False)
    frames = decode_frames(out.video_path)
    want_first, want_last = fit_frame(load_rgb(first), W, H), fit_frame(load_rgb(last), W, H)
    assert mean_abs(frames[0], want_first) < 6.0
    assert mean_abs(frames[-1], want_last) < 6.0
    assert mean_abs(frames[0], want_last) > 30.0  # the two ends really are different pictures
    middle = frames[len(frames) // 2]
    assert mean_abs(middle, want_first) > 6.0 and mean_abs(middle, want_last) > 6.0
    assert out.extra["mode"] == "image" and out.extra["motion"] == "words"
    assert set(out.extra["camera"]) == {"zoom_in", "pan_left"}


def test_image_to_video_without_an_end_frame_moves_over_the_first(tmp_path: Path) -> None:
    first, _ = frames_of(tmp_path, (200, 60, 40), (40, 90, 210))
    out = run_engine(tmp_path / "work", [probe_ref("image", first, 0)], "", model=FAST_IMAGE_MODEL)
    assert_contract(out.video_path, W, H, 4, has_audio=True)
    frames = decode_frames(out.video_path)
    assert mean_abs(frames[0], fit_frame(load_rgb(first), W, H)) < 6.0
    assert mean_abs(frames[0], frames[-1]) > 2.0  # the seeded move happened
    assert out.extra["frames"] == ["image_url"] and out.extra["motion"] == "seeded"


@pytest.mark.parametrize("seed", [7])
def test_text_to_video_is_a_deterministic_title_card(tmp_path: Path, seed: int) -> None:
    sunset = "a calm sunset over the desert, slow pan right"
    one = run_engine(tmp_path / "a", [], sunset, model=TEXT_MODEL, seed=seed)
    again = run_engine(tmp_path / "b", [], sunset, model=TEXT_MODEL, seed=seed)
    other = run_engine(tmp_path / "c", [], "energetic neon city at night, zoom in", model=TEXT_MODEL, seed=seed)
    assert_contract(one.video_path, W, H, 4, has_audio=True)
    a, b, c = (decode_frames(o.video_path, stride=24) for o in (one, again, other))
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert mean_abs(a[0], c[0]) > 10.0
    assert mean_abs(a[0], a[-1]) > 1.0  # it moves
    assert one.extra["placeholder"] is True and one.extra["camera"] == ["pan_right"]
    assert other.extra["light"] < one.extra["light"]  # night is darker


def test_text_to_video_sets_what_it_can_of_a_chinese_prompt_and_says_so(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lettering, "FALLBACK_FONTS", ())  # a server without CJK fonts
    out = run_engine(tmp_path / "w", [], "海边的灯塔 lighthouse", model=TEXT_MODEL, audio=False)
    assert out.extra["title"] == ["lighthouse"] and out.extra["missing_glyphs"] == 5
    frame = decode_frames(out.video_path, stride=48)[1]
    assert text_likeness(frame, "lighthouse") > 0.6  # the Latin words, and no boxes where the Chinese was
    assert lettering.choose_setting("海边的灯塔").text == ""  # nothing drawable: the card says what it is


def test_long_prompts_wrap_into_at_most_four_lines_inside_the_frame() -> None:
    setting = lettering.choose_setting("a café — “naïve” lighthouse " * 300)
    assert setting.missing == 0 and "cafe - \"naive\"" in setting.text  # folded, not dropped
    lines, font = lettering.fit_lines(setting.text, setting.font_path, 864, 496)
    assert len(lines) == 4 and lines[-1].endswith("...")
    assert all(font.getlength(line) <= 0.8 * 864 for line in lines)
