"""Measuring decoded frames the way a viewer sees them, independently of the compositor's own code: how far
the content travelled (phase correlation), how much it grew (feature matching), and its colour."""

from __future__ import annotations

import itertools
from pathlib import Path

import av
import cv2
import numpy as np


def decode_rgb(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]


def _gray(rgb: np.ndarray) -> np.ndarray:
    return np.asarray(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY))


def travel(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """(dx, dy) pixels the content moved from frame `a` to frame `b` (phase correlation; + = right/down)."""
    window = cv2.createHanningWindow((a.shape[1], a.shape[0]), cv2.CV_32F)
    (dx, dy), _ = cv2.phaseCorrelate(_gray(a).astype(np.float32), _gray(b).astype(np.float32), window)
    return float(dx), float(dy)


def similarity_matrix(a: np.ndarray, b: np.ndarray, features: int = 700) -> np.ndarray:
    """The 2×3 similarity that maps content of `a` onto `b` (ORB matches, RANSAC), in pixels."""
    orb = cv2.ORB.create(features)
    matcher = cv2.BFMatcher(cv2.NORM_HAMMING, crossCheck=True)
    (ka, da), (kb, db) = orb.detectAndCompute(_gray(a), None), orb.detectAndCompute(_gray(b), None)
    matches = matcher.match(da, db)
    pa = np.array([ka[m.queryIdx].pt for m in matches], np.float32)
    pb = np.array([kb[m.trainIdx].pt for m in matches], np.float32)
    m, _ = cv2.estimateAffinePartial2D(pa, pb, method=cv2.RANSAC, ransacReprojThreshold=1.0)
    return np.asarray(m, np.float64)


def similarity(a: np.ndarray, b: np.ndarray) -> tuple[float, float, float]:
    """(scale, dx, dy) of `similarity_matrix(a, b)`; dx, dy are where the top-left corner goes."""
    m = similarity_matrix(a, b)
    return float(np.hypot(m[0, 0], m[1, 0])), float(m[0, 2]), float(m[1, 2])


def scale_steps(frames: list[np.ndarray]) -> np.ndarray:
    """Frame-to-frame scale change (scale − 1) along a clip."""
    return np.array([similarity(a, b)[0] - 1.0 for a, b in itertools.pairwise(frames)])


def warmth(rgb: np.ndarray) -> float:
    """Mean red minus mean blue: > 0 reads warm, < 0 cold."""
    return float(rgb[..., 0].astype(np.float64).mean() - rgb[..., 2].astype(np.float64).mean())


def saturation(rgb: np.ndarray) -> float:
    """Mean HSV saturation (0 for black and white)."""
    return float(cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV)[..., 1].mean())
