"""Where shots start and end: cuts snapped to audio onsets, or evenly spread with crossfades.

Frame i is shown over [i/fps, (i+1)/fps); a cut "at frame c" means frame c is the first frame of the next
shot, so a cut for an onset at t seconds is at round(t·fps), within half a frame of the onset.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

DEFAULT_FADE_FRAMES = 12  # half a second at 24 fps, used when no audio dictates the cuts
STAND_OUT = 1.5  # a beat worth an accent is this much stronger than the median beat around it…
NEIGHBOURHOOD_S = 2.0  # …within this many seconds either side…
SPARSE_BEATS = 2  # …or has at most this many beats there besides itself (a lone hit)
ACCENT_GAP_S = 2.0  # and accents are at least this far apart: a pulse, never a throb


@dataclass(frozen=True)
class Span:
    """Frames [start, end) where a shot is visible; `fade_in` leading frames blend it over the previous one."""

    start: int
    end: int
    fade_in: int = 0


def ideal_boundaries(n_frames: int, weights: Sequence[float]) -> list[float]:
    """Cut positions (frames) that split `n_frames` in proportion to `weights` (one per shot)."""
    w = np.maximum(np.asarray(weights, dtype=np.float64), 1e-6)
    edges = np.cumsum(w)[:-1] / w.sum() * n_frames
    return [float(e) for e in edges]


def place_cuts(n_frames: int, fps: int, weights: Sequence[float], onsets_s: Sequence[float] = (),
               strengths: Sequence[float] | None = None) -> tuple[list[int], list[bool]]:
    """Cut frames for len(weights) shots, and for each whether it sits on an onset.

    Each cut takes the onset nearest its ideal position (stronger onsets win ties within a quarter shot)
    that leaves every remaining shot at least a minimum length; a cut with no such onset stays at its
    ideal position.
    """
    n_shots = len(weights)
    if n_shots <= 1 or n_frames < 2:
        return [], []
    ideal = ideal_boundaries(n_frames, weights)
    min_len = max(1, min(fps // 2, n_frames // (2 * n_shots)))
    power = list(strengths) if strengths is not None else [1.0] * len(onsets_s)
    candidates = sorted({(round(t * fps), p) for t, p in zip(onsets_s, power, strict=False)
                         if 0 < round(t * fps) < n_frames})
    cuts: list[int] = []
    on_onset: list[bool] = []
    prev = 0
    for k, target in enumerate(ideal):
        after = n_shots - 1 - k  # shots from this cut on, each needs min_len
        lo, hi = prev + min_len, n_frames - min_len * after
        shot_len = n_frames / n_shots
        options = [(abs(f - target) / shot_len - 0.25 * p, f) for f, p in candidates if lo <= f <= hi]
        if options:
            cuts.append(min(options)[1])
            on_onset.append(True)
        else:
            cuts.append(int(min(max(round(target), lo), max(lo, hi))))
            on_onset.append(False)
        prev = cuts[-1]
    return cuts, on_onset


def spans(n_frames: int, cuts: Sequence[int], fade_frames: int) -> list[Span]:
    """Visible frame ranges per shot. With `fade_frames` > 0 neighbouring shots overlap by that many frames
    around each cut (centred on it), never more than a third of the shorter shot."""
    edges = [0, *cuts, n_frames]
    lengths = np.diff(edges)
    out = []
    for k in range(len(edges) - 1):
        fade_before = _fade(fade_frames, lengths, k - 1, k) if k > 0 else 0
        fade_after = _fade(fade_frames, lengths, k, k + 1) if k < len(edges) - 2 else 0
        start = edges[k] - fade_before // 2
        end = edges[k + 1] + (fade_after - fade_after // 2)
        out.append(Span(max(0, start), min(n_frames, end), fade_before))
    return out


def _fade(fade_frames: int, lengths: np.ndarray, a: int, b: int) -> int:
    return int(max(0, min(fade_frames, min(lengths[a], lengths[b]) // 3)))


def accent_frames(onsets_s: Sequence[float], strengths: Sequence[float], fps: int, n_frames: int,
                  cuts: Sequence[int], min_strength: float = 0.3, clearance: int = 3,
                  min_gap_s: float = 0.4) -> list[int]:
    """Onsets (as frames) strong enough for a camera accent and not already marked by a cut, at most one per
    `min_gap_s` (the stronger onset wins, then the earlier), ascending."""
    gap = max(1, round(min_gap_s * fps))
    ranked = sorted(zip(strengths, onsets_s, strict=False), key=lambda pair: (-pair[0], pair[1]))
    frames: list[int] = []
    for p, t in ranked:
        f = round(t * fps)
        if p >= min_strength and 0 < f < n_frames and all(abs(f - c) > clearance for c in cuts) and all(
                abs(f - g) >= gap for g in frames):
            frames.append(f)
    return sorted(frames)


def standout_beats(times_s: Sequence[float], strengths: Sequence[float]) -> tuple[list[float], list[float]]:
    """The beats that stand out from their neighbourhood (`STAND_OUT` × the median strength of the beats
    within `NEIGHBOURHOOD_S`, or a lone hit there): a downbeat marked louder, a drop, a single crash. Every
    beat of a steady track is like its neighbours, so none stands out and the picture does not throb."""
    t, p = np.asarray(times_s, np.float64), np.asarray(strengths, np.float64)
    keep = []
    for k in range(len(t)):
        near = np.abs(t - t[k]) <= NEIGHBOURHOOD_S
        if near.sum() - 1 <= SPARSE_BEATS or p[k] >= STAND_OUT * float(np.median(p[near])):
            keep.append(k)
    return [float(t[k]) for k in keep], [float(p[k]) for k in keep]
