"""Camera moves from words, the default move, and beat accents, as relative camera tracks.

A track row is `(tx, ty, angle_rad, log_scale)` of the *content* (see `motion.py`): translation in units of
√(frame area), so a move looks the same at every resolution. Words name what the camera does; the content
does the opposite: "pan left" turns the camera left, so the picture slides right (+tx); "tilt up" slides it
down (+ty, y grows downwards); "zoom in" grows it (+log_scale).

Beat accents are `motion.accent_pulses`, added by the engine on top of these moves.

Moves are rates (per second) with a cap per shot, so a short shot of a multi-shot clip moves at the same
speed as a long one without a 15 s shot drifting off its picture. Velocity ramps in and out (a trapezoid),
so a move starts and ends without a jolt. Amounts vary a little with the variation seed, never in direction.
"""

from __future__ import annotations

import numpy as np

from refvid.engines.compositor.prompt_reader import CameraWords, Pace

# Per second at speed 1, and the most one shot may travel: (tx, ty, angle, log_scale).
_RATES: dict[str, tuple[float, float, float, float]] = {
    "pan_left": (0.03, 0.0, 0.0, 0.0), "pan_right": (-0.03, 0.0, 0.0, 0.0),
    "tilt_up": (0.0, 0.03, 0.0, 0.0), "tilt_down": (0.0, -0.03, 0.0, 0.0),
    "zoom_in": (0.0, 0.0, 0.0, 0.045), "zoom_out": (0.0, 0.0, 0.0, -0.045),
    "orbit": (0.01, 0.0, np.deg2rad(2.0), 0.012),
    "crane_up": (0.0, 0.025, 0.0, -0.012), "crane_down": (0.0, -0.025, 0.0, 0.012),
}
_CAPS = np.array([0.16, 0.16, np.deg2rad(12.0), np.log(1.45)])
SPEED_FACTORS = {"slow": 0.6, None: 1.0, "fast": 1.8}
PACE_FACTORS: dict[Pace | None, float] = {"calm": 0.8, None: 1.0, "energetic": 1.25}
RAMP_SHARE = 0.2  # of the shot spent speeding up, and again slowing down


def _rng(seed: int, variation: int, salt: int) -> np.random.Generator:
    return np.random.default_rng([seed & 0xFFFFFFFF, variation & 0xFFFFFFFF, salt])


def progress_curve(n: int) -> np.ndarray:
    """(n,) from 0 to 1: constant speed in the middle, eased over `RAMP_SHARE` at each end."""
    if n < 2:
        return np.zeros(max(n, 0))
    u = np.linspace(0.0, 1.0, n)
    r = RAMP_SHARE
    velocity = np.minimum(1.0, np.minimum(u / r, (1.0 - u) / r))
    velocity = 0.5 - 0.5 * np.cos(np.pi * velocity)  # smooth corners
    curve = np.concatenate([[0.0], np.cumsum((velocity[1:] + velocity[:-1]) / 2)])
    out: np.ndarray = curve / curve[-1]
    return out


def _handheld(n: int, fps: int, rng: np.random.Generator, strength: float) -> np.ndarray:
    """A smooth seeded wobble (about 1–2 Hz): what a hand holding the camera adds to any move."""
    rows = np.zeros((n, 4))
    if n < 2:
        return rows
    t = np.arange(n) / fps
    for k, amp in ((0, 0.006), (1, 0.005), (2, np.deg2rad(0.35)), (3, 0.004)):
        freqs, phases = rng.uniform(0.6, 2.2, 3), rng.uniform(0, 2 * np.pi, 3)
        wave = sum(np.sin(2 * np.pi * f * t + p) for f, p in zip(freqs, phases, strict=True)) / 3
        rows[:, k] = amp * strength * (wave - wave[0])
    return rows


def word_move(words: CameraWords, n: int, fps: int, seed: int, variation: int, pace: Pace | None = None) -> np.ndarray:
    """The relative track (n, 4) of one shot whose camera words are `words` (they must name a move)."""
    if "static" in words.moves or n < 1:
        return np.zeros((max(n, 0), 4))
    rng = _rng(seed, variation, 0x51A7)
    speed = SPEED_FACTORS[words.speed] * PACE_FACTORS[pace] * rng.uniform(0.92, 1.08)
    seconds = max(n - 1, 1) / fps
    total = np.zeros(4)
    for move in sorted(words.moves):
        total += np.array(_RATES.get(move, (0.0, 0.0, 0.0, 0.0)))
    total = np.clip(total * speed * seconds, -_CAPS, _CAPS)
    track = progress_curve(n)[:, None] * total[None, :]
    if "handheld" in words.moves:
        track += _handheld(n, fps, rng, strength=min(2.0, speed))
    return track


def default_move(n: int, fps: int, seed: int, variation: int, speed: float = 1.0) -> np.ndarray:
    """No camera words: a gentle seeded push-in or pull-out with a drift, clearly visible (≥ 5 % zoom over
    a 5 s clip at speed 1) yet slow enough that the picture stays recognisable (≤ 7 % zoom, ≤ 2.5 % drift)."""
    rng = _rng(seed, variation, 0x6A7)
    zoom = rng.uniform(0.055, 0.07) * (1 if rng.random() < 0.6 else -1)
    heading = rng.uniform(0, 2 * np.pi)
    drift = rng.uniform(0.01, 0.025)
    roll = np.deg2rad(rng.uniform(-0.3, 0.3))
    seconds = max(n - 1, 1) / fps
    amount = min(1.0, max(seconds, 4.0) / 5.0) * speed  # 4–5 s clips get the full move; shorter shots less
    ease = progress_curve(n) * amount
    return np.stack([drift * np.cos(heading) * ease, drift * np.sin(heading) * ease, roll * ease,
                     np.log1p(zoom) * ease], axis=1)
