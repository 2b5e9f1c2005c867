"""media/framing.py (how the compositor fits pictures) and media/timeline.py (where its cuts go)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from refvid.engines.compositor.framing import (
    Planes,
    blur_fill,
    choose_fit,
    fit_frame,
    load_image,
    subject_window_centre,
    warp_planes,
)
from refvid.engines.compositor.timeline import accent_frames, place_cuts, spans
from refvid.media.encode import PlanarFrame, i420_to_rgb, rgb_to_i420
from tests.support.media_factory import textured_rgb


def test_fit_mode_follows_how_much_a_crop_would_keep() -> None:
    assert choose_fit(640, 480, 1280, 720) == "cover"  # keeps 75 %
    assert choose_fit(1920, 1080, 1280, 720) == "cover"
    assert choose_fit(1080, 1920, 1280, 720) == "blur_fill"
    assert choose_fit(1000, 1000, 1470, 630) == "blur_fill"


def test_huge_jpeg_is_decoded_small_and_upright(tmp_path: Path) -> None:
    path = tmp_path / "big.jpg"
    image = Image.fromarray(textured_rgb(6000, 4000, seed=1))
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways: rotate 90° on display
    image.save(path, quality=80, exif=exif)
    rgb, scale = load_image(path, 864, 496)
    assert scale == pytest.approx(rgb.shape[0] / 6000, rel=1e-3)
    assert rgb.shape[0] > rgb.shape[1]  # portrait once the EXIF turn is applied
    assert rgb.shape[1] <= 2 * 864 + 2 and rgb.shape[0] <= 2 * 496 * 6000 / 4000 * 2  # ≤ 2× what covering needs
    assert min(rgb.shape[:2]) >= 496


def test_transparent_png_is_flattened_on_grey(tmp_path: Path) -> None:
    path = tmp_path / "alpha.png"
    Image.new("RGBA", (400, 300), (255, 0, 0, 0)).save(path)
    rgb, scale = load_image(path, 400, 300)
    assert scale == 1.0 and rgb.shape == (300, 400, 3) and tuple(rgb[0, 0]) == (128, 128, 128)


def test_subject_window_finds_the_busy_part() -> None:
    rgb = np.full((400, 1200, 3), 90, np.uint8)
    rgb[:, 850:1150] = textured_rgb(300, 400, seed=2)
    x, y = subject_window_centre(rgb, 400, 400)
    assert 850 <= x <= 1150 and y == 200


def test_fitting_keeps_the_exact_size_without_distortion() -> None:
    square = textured_rgb(500, 500, seed=3)
    out = fit_frame(square, 1470, 630)  # blur fill: the whole square, centred
    assert out.shape == (630, 1470, 3)
    inner = cv2.resize(square, (630, 630), interpolation=cv2.INTER_AREA)
    assert cv2.matchTemplate(out, inner[100:500, 100:500], cv2.TM_CCOEFF_NORMED).max() > 0.95
    wide = textured_rgb(1920, 1080, seed=4)
    assert fit_frame(wide, 834, 1112).shape == (1112, 834, 3)
    assert blur_fill(wide, 496, 864).shape == (864, 496, 3)


def test_warping_i420_planes_matches_warping_rgb() -> None:
    rgb = textured_rgb(800, 600, seed=5)
    planes = Planes.from_rgb(rgb)
    m = cv2.getRotationMatrix2D((400, 300), 3.0, 0.9)
    frame = PlanarFrame(640, 480)
    warp_planes(planes, m, frame.planes)
    got = frame.frame.to_ndarray(format="rgb24")
    want = i420_to_rgb(rgb_to_i420(cv2.warpAffine(rgb, m, (640, 480), borderMode=cv2.BORDER_REPLICATE)))
    assert np.abs(got.astype(int) - want).mean() < 4  # chroma lands where the luma is


def test_cuts_snap_to_onsets_and_leave_room() -> None:
    cuts, on = place_cuts(96, 24, [1, 1, 1], [0.5, 1.5, 2.5], [1.0, 0.8, 0.9])
    assert cuts == [36, 60] and on == [True, True]
    cuts, on = place_cuts(96, 24, [1, 1, 1], [])
    assert cuts == [32, 64] and on == [False, False]
    cuts, on = place_cuts(96, 24, [1, 1, 1], [0.1, 3.95])  # onsets too close to the ends
    assert on == [False, False] and 0 < cuts[0] < cuts[1] < 96
    assert place_cuts(96, 24, [1]) == ([], [])


def test_spans_overlap_by_the_crossfade() -> None:
    s = spans(144, [48, 96], 12)
    assert (s[0].start, s[0].end, s[1].start, s[1].end, s[2].start, s[2].end) == (0, 54, 42, 102, 90, 144)
    assert s[1].fade_in == 12 and s[0].fade_in == 0
    assert spans(96, [32, 64], 12)[1].fade_in == 10  # at most a third of the shorter shot
    hard = spans(96, [40], 0)
    assert (hard[0].end, hard[1].start) == (40, 40)


@pytest.mark.parametrize(("onsets", "expected"), [([0.5, 1.5, 2.5], [12, 60]), ([1.52], [])])
def test_accents_skip_the_cuts(onsets: list[float], expected: list[int]) -> None:
    assert accent_frames(onsets, [1.0] * len(onsets), 24, 96, cuts=[36]) == expected
