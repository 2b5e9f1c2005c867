"""The output soundtrack: reference audio (sequenced, looped or trimmed, faded) or a seeded ambience.

All audio here is float32 `[channels, n]` at 48 kHz stereo (`SAMPLE_RATE`), the rate `VideoWriter` encodes.
Onsets are found by spectral flux (log-magnitude STFT, half-wave rectified), peak-picked against a local
median, then refined to the steepest rise of a 2.7 ms energy envelope so that cuts can land on the sample
region where a hit starts, not just the STFT frame.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

import av
import numpy as np

from refvid.media.ambience import synthesize_ambience
from refvid.media.info import Reference
from refvid.media.prompt_refs import mention_order

SAMPLE_RATE = 48_000
CHANNELS = 2
JOIN_FADE_S = 0.005  # clip joins and loop points: a 5 ms fade each side, no click, no shift in time
FADE_IN_S = 0.01
FADE_OUT_S = 0.3
MIN_FLUX_PER_BIN = 0.04  # mean log-magnitude rise per STFT bin that an onset must exceed

LOW_BAND_HZ = 150.0  # kick drums and bass live below this; clicks, hats and gate edges do not
LOW_RISE_DB = 12.0
LOW_SHARE = 0.3
PEAK_HOPS = 4  # a low-band hit's strength: its loudest STFT frame within this many hops of its rise
LOUD_OVER_MEDIAN = 4.0  # an onset "well above the track's median": 6 dB more energy than the median onset
LOUD_WINDOW_S = 0.05

__all__ = ["SAMPLE_RATE", "build_soundtrack", "detect_onsets", "fit_length", "for_job", "load_audio",
           "strong_beats", "synthesize_ambience"]


def load_audio(path: Path, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Decode the first audio stream of `path` to float32 [2, n] at `sample_rate` (mono is duplicated)."""
    chunks: list[np.ndarray] = []
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        layout = "mono" if (stream.channels or 1) == 1 else "stereo"
        resampler = av.AudioResampler(format="fltp", layout=layout, rate=sample_rate)
        for frame in container.decode(stream):
            chunks.extend(f.to_ndarray() for f in resampler.resample(frame))
        chunks.extend(f.to_ndarray() for f in resampler.resample(None))
    if not chunks:
        return np.zeros((CHANNELS, 0), np.float32)
    data = np.concatenate(chunks, axis=1).astype(np.float32)
    return np.repeat(data, CHANNELS, axis=0) if data.shape[0] == 1 else data


def _edge_fades(clip: np.ndarray, fade_in: int, fade_out: int) -> np.ndarray:
    out = clip.copy()
    n = out.shape[1]
    if fade_in and n:
        k = min(fade_in, n)
        out[:, :k] *= np.linspace(0.0, 1.0, k, dtype=np.float32)
    if fade_out and n:
        k = min(fade_out, n)
        out[:, n - k:] *= np.linspace(1.0, 0.0, k, dtype=np.float32)
    return out


def fit_length(clips: Sequence[np.ndarray], n: int, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Clips played one after another, looped from the start while shorter than `n`, cut at `n`."""
    clips = [c for c in clips if c.shape[1] > 0]
    if not clips or n <= 0:
        return np.zeros((CHANNELS, max(n, 0)), np.float32)
    join = round(JOIN_FADE_S * sample_rate)
    faded = [_edge_fades(c, join, join) for c in clips]
    whole = np.concatenate(faded, axis=1)
    repeats = -(-n // whole.shape[1])
    return np.ascontiguousarray(np.tile(whole, (1, repeats))[:, :n])


def build_soundtrack(paths: Sequence[Path], duration_s: float, sample_rate: int = SAMPLE_RATE,
                     check: Callable[[], None] | None = None) -> np.ndarray:
    """Reference audio files in the given order, looped/trimmed to `duration_s`, with a short fade in and out.
    `check` is called before each file is decoded (raise from it to stop)."""
    n = round(duration_s * sample_rate)
    clips = []
    for path in paths:
        if check is not None:
            check()
        clips.append(load_audio(path, sample_rate))
    track = fit_length(clips, n, sample_rate)
    # The first clip keeps its first samples whole (onsets at 0 stay sharp): only 10 ms fade in.
    return _edge_fades(track, round(FADE_IN_S * sample_rate), round(min(FADE_OUT_S, duration_s / 10) * sample_rate))


class _JobLike(Protocol):
    @property
    def prompt(self) -> str: ...

    @property
    def audios(self) -> list[Reference]: ...

    @property
    def output(self) -> _OutputLike: ...


class _OutputLike(Protocol):
    @property
    def duration_s(self) -> int: ...

    @property
    def seed(self) -> int: ...


def for_job(job: _JobLike) -> tuple[np.ndarray, int]:
    """(samples [2, n], rate) for an engine job: its audio references in prompt-mention order, else ambience."""
    audios = job.audios
    if audios:
        order = mention_order(job.prompt, "audio", len(audios))
        return build_soundtrack([audios[i].path for i in order], job.output.duration_s), SAMPLE_RATE
    return synthesize_ambience(job.output.duration_s, job.output.seed, SAMPLE_RATE), SAMPLE_RATE


def _stft_flux(mono: np.ndarray, win: int, hop: int) -> np.ndarray:
    """Half-wave rectified log-magnitude spectral flux, one value per hop (index i ↔ window start i·hop)."""
    if len(mono) < win:
        return np.zeros(0)
    frames = np.lib.stride_tricks.sliding_window_view(mono, win)[::hop] * np.hanning(win).astype(np.float32)
    mag = np.log1p(100.0 * np.abs(np.fft.rfft(frames, axis=1)))
    flux = np.maximum(0.0, np.diff(mag, axis=0)).sum(axis=1)
    return np.concatenate([[0.0], flux])


def detect_onsets(samples: np.ndarray, sample_rate: int = SAMPLE_RATE, min_gap_s: float = 0.1,
                  sensitivity: float = 0.25) -> tuple[np.ndarray, np.ndarray]:
    """Onset times (s, ascending) and their strengths (0–1, relative to the strongest) in `samples`."""
    mono = np.asarray(samples, np.float32)
    mono = mono.mean(axis=0) if mono.ndim == 2 else mono
    win, hop = 1024, 256
    flux = _stft_flux(mono, win, hop)
    if len(flux) < 3 or flux.max() <= 0:
        return np.zeros(0), np.zeros(0)
    half = max(1, round(0.15 * sample_rate / hop))
    padded = np.pad(flux, half, mode="edge")
    local_median = np.median(np.lib.stride_tricks.sliding_window_view(padded, 2 * half + 1), axis=1)
    # Above the local level by a share of the strongest hit, and by an absolute floor so that the tiny
    # frame-to-frame wobble of a steady tone or of stationary noise never counts.
    threshold = local_median + max(sensitivity * flux.max(), MIN_FLUX_PER_BIN * (win // 2 + 1))
    gap = max(1, round(min_gap_s * sample_rate / hop))
    peaks: list[int] = []
    for i in np.argsort(-flux, kind="stable"):
        if flux[i] <= threshold[i]:
            break
        if all(abs(int(i) - p) >= gap for p in peaks):
            peaks.append(int(i))
    peaks.sort()
    times = np.array([_refine(mono, p * hop, win, sample_rate) for p in peaks])
    return times, flux[peaks] / flux.max()


def _refine(mono: np.ndarray, frame_start: int, win: int, sample_rate: int) -> float:
    """The start of the steepest energy rise near a flux peak whose window begins at `frame_start`."""
    block = 128
    lo = max(0, frame_start - win // 2)
    hi = min(len(mono), frame_start + win + win // 2)
    seg = mono[lo:hi]
    nb = len(seg) // block
    if nb < 2:
        return frame_start / sample_rate
    energy = np.log10(1e-9 + (seg[: nb * block].reshape(nb, block) ** 2).mean(axis=1))
    rise = int(np.argmax(np.diff(energy))) + 1
    return (lo + rise * block) / sample_rate



def _low_band_hits(mono: np.ndarray, sample_rate: int, win: int = 1024, hop: int = 256,
                   min_gap_s: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
    """Times and strengths (0–1) of hits in the low band (kicks, bass notes): the energy below
    `LOW_BAND_HZ` jumps by `LOW_RISE_DB` within two STFT hops, reaches a tenth of its loudest value and holds
    at least `LOW_SHARE` of the frame's energy.
    Spectral flux alone misses them when a broadband click follows (it weighs every bin alike), and the
    share test keeps broadband noise out."""
    if len(mono) < win + 2 * hop:
        return np.zeros(0), np.zeros(0)
    frames = np.lib.stride_tricks.sliding_window_view(mono, win)[::hop] * np.hanning(win).astype(np.float32)
    power = np.abs(np.fft.rfft(frames, axis=1)) ** 2
    energy = power[:, np.fft.rfftfreq(win, 1.0 / sample_rate) < LOW_BAND_HZ].sum(axis=1)
    level = 10.0 * np.log10(energy + 1e-9)
    rise = np.concatenate([[0.0, 0.0], level[2:] - level[:-2]])
    # Loud for this track, and mostly low: a noise burst also reaches the low band, but only a sliver of it.
    loud = (energy >= 0.1 * energy.max()) & (energy >= LOW_SHARE * power.sum(axis=1))
    gap = max(1, round(min_gap_s * sample_rate / hop))
    peaks: list[int] = []
    for i in np.argsort(-rise, kind="stable"):
        if rise[i] < LOW_RISE_DB:
            break
        if loud[i] and all(abs(int(i) - p) >= gap for p in peaks):
            peaks.append(int(i))
    peaks.sort()
    times = np.array([(p * hop + win / 2) / sample_rate for p in peaks])
    # A hit's strength is its peak, not the frame where it rises (that frame catches it at any phase of the
    # hop, so equal kicks would read as unequal).
    peak = np.array([energy[p:p + PEAK_HOPS].max() for p in peaks])
    return times, peak / energy.max() if peaks else np.zeros(0)


def strong_beats(samples: np.ndarray, onsets_s: np.ndarray, strengths: np.ndarray,
                 sample_rate: int = SAMPLE_RATE, min_gap_s: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
    """The beats worth a camera accent, (times s, strengths 0–1) ascending: hits in the low band (a kick, a
    bass note), and onsets well above the track's median onset strength. The click at the end of a gated
    kick, a hi-hat or an even click track are not: none stands out, and their energy is high-pitched."""
    mono = np.asarray(samples, np.float32)
    mono = mono.mean(axis=0) if mono.ndim == 2 else mono
    times, power = _low_band_hits(mono, sample_rate)
    if len(onsets_s):
        # Loudness, not flux: flux is log-compressed, so a hit 16 dB louder scores only half again as much.
        window = round(LOUD_WINDOW_S * sample_rate)
        energy = np.array([float(np.mean(mono[round(t * sample_rate):round(t * sample_rate) + window] ** 2))
                           for t in onsets_s])
        loud = energy >= LOUD_OVER_MEDIAN * float(np.median(energy))
        times, power = np.concatenate([times, onsets_s[loud]]), np.concatenate([power, strengths[loud]])
    keep: list[int] = []
    for i in np.argsort(-power, kind="stable"):  # one beat per hit when both tests find it
        if all(abs(times[i] - times[k]) >= min_gap_s for k in keep):
            keep.append(int(i))
    keep.sort(key=lambda i: times[i])
    return times[keep], power[keep]
