"""The colourist: the looks a prompt asks for, as lookup tables on the I420 planes the encoder takes.

Every look is a per-channel curve on Y (brightness), U (blue − luma) and V (red − luma), BT.601 limited
range, so a whole grade is three 256-entry tables built once per shot and applied with `cv2.LUT` (a few
hundred microseconds per 720p frame): grading never slows the compositor down. Film grain is the one
per-frame addition: a handful of seeded noise tiles prepared once, added and subtracted with saturation.

Looks combine in one fixed order (faded → warm → cold → neon → contrast → mono), so the same words in any
order give the same tables; each look's strength varies a little with the variation seed, never its kind.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import cv2
import numpy as np

from refvid.engines.compositor.prompt_reader import Look

PlaneViews = tuple[np.ndarray, np.ndarray, np.ndarray]
Curves = tuple[np.ndarray, np.ndarray, np.ndarray]  # float tables for y, u, v over inputs 0..255
ORDER: tuple[Look, ...] = ("faded", "warm", "cold", "neon", "contrast", "mono", "grain")
GRAIN_TILES = 4
GRAIN_SIGMA = 5.0  # luma code values


def _chroma(c: np.ndarray, gain: float = 1.0, shift: float = 0.0) -> np.ndarray:
    return (c - 128.0) * gain + 128.0 + shift


def _faded(y: np.ndarray, u: np.ndarray, v: np.ndarray, s: float) -> Curves:
    """Lifted blacks, softened whites, washed-out colour with a hint of yellow."""
    return 36.0 * s + y * (1.0 - (36.0 + 22.0) * s / 255.0), _chroma(u, 1 - 0.3 * s, -4 * s), _chroma(v, 1 - 0.3 * s,
                                                                                                      3 * s)


def _lean(c: np.ndarray, towards: float, gain: float, s: float) -> np.ndarray:
    """Chroma pushed out by `gain` on the side of 128 that `towards` (+1 or −1) names and pulled in by as much
    on the other: warm colours richer, cold ones quieter, and 128 (no colour) stays exactly where it is."""
    d = c - 128.0
    return 128.0 + d * np.where(d * towards > 0, 1.0 + gain * s, 1.0 - gain * s)


def _warm(y: np.ndarray, u: np.ndarray, v: np.ndarray, s: float) -> Curves:
    """Golden hour, mildly: yellows and reds richer, blues and cyans quieter, a faint overall warmth (a neutral
    grey moves by under 4 code values, never into brown) and a touch brighter in the mids."""
    lift = 6.0 * s * np.sin(np.pi * np.clip((y - 16.0) / 219.0, 0.0, 1.0))
    return y + lift, _lean(u, -1.0, 0.3, s) - 2.5 * s, _lean(v, 1.0, 0.25, s) + 2.0 * s


def _cold(y: np.ndarray, u: np.ndarray, v: np.ndarray, s: float) -> Curves:
    """Blue night: more blue, less red, darker mids."""
    dim = 16.0 + 219.0 * np.clip((y - 16.0) / 219.0, 0.0, 1.0) ** (1.0 + 0.25 * s)
    return dim, _chroma(u, 1.0, 18.0 * s), _chroma(v, 0.95, -10.0 * s)


def _neon(y: np.ndarray, u: np.ndarray, v: np.ndarray, s: float) -> Curves:
    """Saturated, magenta-cyan leaning colour with deeper shadows."""
    deep = 16.0 + 219.0 * np.clip((y - 16.0) / 219.0, 0.0, 1.0) ** (1.0 + 0.2 * s)
    return deep, _chroma(u, 1 + 0.5 * s, 6 * s), _chroma(v, 1 + 0.5 * s, 8 * s)


def _contrast(y: np.ndarray, u: np.ndarray, v: np.ndarray, s: float) -> Curves:
    """An S-curve about mid-grey, and a little more colour."""
    x = np.clip((y - 16.0) / 219.0, 0.0, 1.0)
    curve = x + 0.6 * s * (x - 0.5) * (1.0 - np.abs(2.0 * x - 1.0)) * 2.0
    return 16.0 + 219.0 * curve, _chroma(u, 1 + 0.12 * s), _chroma(v, 1 + 0.12 * s)


def _mono(y: np.ndarray, u: np.ndarray, v: np.ndarray, s: float) -> Curves:
    """Black and white: no colour at all (whatever the variation)."""
    return y, np.full_like(u, 128.0), np.full_like(v, 128.0)


_LOOKS: dict[str, Callable[[np.ndarray, np.ndarray, np.ndarray, float], Curves]] = {
    "faded": _faded, "warm": _warm, "cold": _cold, "neon": _neon, "contrast": _contrast, "mono": _mono,
}


class Grade:
    """The tables (and grain tiles) of one set of looks for frames of `width`×`height`."""

    def __init__(self, looks: Iterable[Look], width: int, height: int, seed: int, variation: int = 0):
        self.looks = tuple(look for look in ORDER if look in set(looks))
        rng = np.random.default_rng([seed & 0xFFFFFFFF, variation & 0xFFFFFFFF, 0x6EADE])
        identity = np.arange(256, dtype=np.float64)
        y, u, v = identity.copy(), identity.copy(), identity.copy()
        for look in self.looks:
            strength = rng.uniform(0.85, 1.15)
            if look in _LOOKS:
                y, u, v = _LOOKS[look](y, u, v, strength)
        self.tables = tuple(np.clip(np.rint(c), 0, 255).astype(np.uint8).reshape(256, 1) for c in (y, u, v))
        self.grain: list[tuple[np.ndarray, np.ndarray]] = []
        if "grain" in self.looks:
            for _ in range(GRAIN_TILES):
                noise = cv2.GaussianBlur(rng.normal(0.0, GRAIN_SIGMA * 1.6, (height, width)).astype(np.float32),
                                         (0, 0), 0.7)
                self.grain.append((np.clip(noise, 0, 255).astype(np.uint8), np.clip(-noise, 0, 255).astype(np.uint8)))
        self._order = rng.permutation(GRAIN_TILES * 6) % GRAIN_TILES if self.grain else np.zeros(1, int)

    @property
    def is_identity(self) -> bool:
        return not self.looks

    def apply(self, index: int, planes: PlaneViews) -> None:
        """Grade output frame `index` in place."""
        if not self.looks:
            return
        for plane, table in zip(planes, self.tables, strict=True):
            cv2.LUT(plane, table, dst=plane)
        if self.grain:
            up, down = self.grain[int(self._order[index % len(self._order)])]
            y = planes[0]
            cv2.add(y, up, dst=y)
            cv2.subtract(y, down, dst=y)
