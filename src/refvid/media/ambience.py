"""A seeded synthesized ambience: the soundtrack when audio is on but no audio reference was given.

Three layers, all drawn from the seed: a soft filtered-noise bed ("room tone", stereo, breathing with slow
LFOs), a chord pad whose partials swell in and out independently, and a few distant chimes. The result is
neither silence nor a steady tone, sits around −26 dBFS RMS, and is identical for the same seed.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

_RMS_TARGET = 0.05
_CHORDS = ((0, 4, 7, 11), (0, 3, 7, 10), (0, 5, 7, 12), (0, 4, 7, 14), (0, 3, 10, 15))


def _noise_bed(rng: np.random.Generator, n: int, sample_rate: int) -> np.ndarray:
    """Stereo noise with a 1/f tilt and a seeded low-pass corner, partly shared between channels."""
    freqs = np.fft.rfftfreq(n, 1.0 / sample_rate)
    corner = rng.uniform(600.0, 2500.0)
    shape = 1.0 / np.sqrt(np.maximum(freqs, 20.0)) / (1.0 + (freqs / corner) ** 2)
    common = rng.standard_normal(n)
    out = []
    for _ in range(2):
        mixed = 0.7 * common + 0.3 * rng.standard_normal(n)
        out.append(np.fft.irfft(np.fft.rfft(mixed) * shape, n))
    bed = np.array(out)
    return np.asarray(bed / (np.sqrt((bed**2).mean()) + 1e-12))


def _lfo(rng: np.random.Generator, t: np.ndarray, depth: float) -> np.ndarray:
    """A slow positive envelope (1 − depth … 1) from two incommensurate sines."""
    rates, phases = rng.uniform(0.04, 0.25, 2), rng.uniform(0, 2 * np.pi, 2)
    wave = 0.5 * (np.sin(2 * np.pi * rates[0] * t + phases[0]) + np.sin(2 * np.pi * rates[1] * t + phases[1]))
    return np.asarray(1.0 - depth * (0.5 + 0.5 * wave))


def _pad(rng: np.random.Generator, t: np.ndarray, check: Callable[[], None]) -> np.ndarray:
    """A soft chord; each partial detuned a little between channels and swelling on its own."""
    root = 110.0 * 2 ** (rng.integers(0, 12) / 12)
    chord = _CHORDS[int(rng.integers(0, len(_CHORDS)))]
    out = np.zeros((2, len(t)))
    for semis in chord:
        check()
        f = root * 2 ** (semis / 12)
        swell = _lfo(rng, t, 0.9) ** 2
        for ch, detune in enumerate((1.0 - 0.0015, 1.0 + 0.0015)):
            out[ch] += swell * (np.sin(2 * np.pi * f * detune * t) + 0.2 * np.sin(4 * np.pi * f * detune * t))
    return np.asarray(out / (np.sqrt((out**2).mean()) + 1e-12))


def _chimes(rng: np.random.Generator, n: int, sample_rate: int) -> np.ndarray:
    """Sparse decaying bell tones at seeded times, panned."""
    out = np.zeros((2, n))
    t_s = rng.uniform(0.3, 1.5)
    length = min(n, int(1.5 * sample_rate))
    tt = np.arange(length) / sample_rate
    while t_s < n / sample_rate - 0.2:
        start = int(t_s * sample_rate)
        f = 440.0 * 2 ** (rng.integers(0, 24) / 12)
        tone = np.sin(2 * np.pi * f * tt) * np.exp(-tt * rng.uniform(2.5, 5.0)) * np.minimum(1.0, tt / 0.005)
        pan = rng.uniform(0.2, 0.8)
        end = min(n, start + length)
        out[0, start:end] += (1 - pan) * tone[: end - start]
        out[1, start:end] += pan * tone[: end - start]
        t_s += rng.uniform(1.2, 3.5)
    return out


def synthesize_ambience(duration_s: float, seed: int, sample_rate: int = 48_000,
                        check: Callable[[], None] | None = None) -> np.ndarray:
    """`duration_s` of seeded ambience: float32 [2, n], faded in and out over up to a second. `check` is
    called between the steps (each well under 0.1 s for 15 s of sound); raise from it to stop."""
    check = check or (lambda: None)
    n = max(0, round(duration_s * sample_rate))
    if n == 0:
        return np.zeros((2, 0), np.float32)
    rng = np.random.default_rng([seed & 0xFFFFFFFF, 0xA3B1])
    t = np.arange(n) / sample_rate
    bed = _noise_bed(rng, n, sample_rate) * _lfo(rng, t, 0.6)
    check()
    mix = 0.45 * bed + 0.35 * _pad(rng, t, check) + 0.6 * _chimes(rng, n, sample_rate)
    mix *= _RMS_TARGET / (np.sqrt((mix**2).mean()) + 1e-12)
    fade = min(n // 4, sample_rate)
    ramp = np.linspace(0.0, 1.0, fade)
    mix[:, :fade] *= ramp
    mix[:, n - fade:] *= ramp[::-1]
    return np.asarray(np.clip(mix, -0.9, 0.9), dtype=np.float32)
