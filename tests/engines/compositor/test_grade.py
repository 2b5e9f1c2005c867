"""The grade: looks as lookup tables on I420 planes, combined in a fixed order, seeded, cheap."""

from __future__ import annotations

import cv2
import numpy as np

from refvid.engines.compositor.grade import Grade
from refvid.media.encode import PlanarFrame
from tests.support.media_factory import textured_rgb


def graded_rgb(looks: list[str], seed: int = 1, index: int = 0) -> np.ndarray:
    rgb = textured_rgb(320, 240, seed=4)
    frame = PlanarFrame(320, 240)
    i420 = cv2.cvtColor(rgb, cv2.COLOR_RGB2YUV_I420)
    frame.y[...] = i420[:240]
    frame.u[...] = i420[240:300].reshape(120, 160)
    frame.v[...] = i420[300:].reshape(120, 160)
    Grade(looks, 320, 240, seed).apply(index, frame.planes)  # type: ignore[arg-type]
    return np.asarray(frame.frame.to_ndarray(format="rgb24"))


def warmth(rgb: np.ndarray) -> float:
    return float(rgb[..., 0].astype(float).mean() - rgb[..., 2].astype(float).mean())


def test_no_looks_changes_nothing() -> None:
    grade = Grade([], 320, 240, 1)
    assert grade.is_identity
    assert np.array_equal(graded_rgb([]), graded_rgb([], seed=9))


def test_black_and_white_has_no_colour() -> None:
    rgb = graded_rgb(["mono"]).astype(int)
    assert np.abs(rgb[..., 0] - rgb[..., 1]).max() <= 2 and np.abs(rgb[..., 1] - rgb[..., 2]).max() <= 2
    assert rgb.std() > 20  # still a picture


def test_warm_is_warmer_than_plain_than_cold() -> None:
    assert warmth(graded_rgb(["warm"])) > warmth(graded_rgb([])) + 15 > warmth(graded_rgb(["cold"])) + 30


def test_contrast_faded_and_neon_do_what_they_say() -> None:
    plain, contrast, faded = graded_rgb([]), graded_rgb(["contrast"]), graded_rgb(["faded"])
    assert contrast.std() > plain.std() * 1.1
    luma = [cv2.cvtColor(x, cv2.COLOR_RGB2GRAY) for x in (plain, faded)]
    assert np.percentile(luma[1], 1) > np.percentile(luma[0], 1) + 15  # lifted blacks
    assert faded.std() < plain.std()
    saturation = [cv2.cvtColor(x, cv2.COLOR_RGB2HSV)[..., 1].mean() for x in (plain, graded_rgb(["neon"]))]
    assert saturation[1] > saturation[0] * 1.2


def test_looks_combine_in_one_order_and_vary_with_the_seed() -> None:
    assert np.array_equal(graded_rgb(["warm", "contrast"]), graded_rgb(["contrast", "warm"]))
    assert not np.array_equal(graded_rgb(["warm"], seed=1), graded_rgb(["warm"], seed=2))
    mono_warm = graded_rgb(["warm", "mono"]).astype(int)
    assert np.abs(mono_warm[..., 0] - mono_warm[..., 2]).max() <= 2  # mono comes last


def test_grain_moves_from_frame_to_frame_but_is_deterministic() -> None:
    a, b = graded_rgb(["grain"], index=0), graded_rgb(["grain"], index=1)
    assert np.abs(a.astype(int) - graded_rgb([]).astype(int)).mean() > 1.5
    assert np.array_equal(a, graded_rgb(["grain"], index=0))
    assert not np.array_equal(a, b) or not np.array_equal(graded_rgb(["grain"], index=2), a)
