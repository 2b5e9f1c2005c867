"""Audio-only references on the compositor (models whose catalog entry allows them, e.g. Seedance 2.5): a shot
drawn from the sound itself. The compositor generates no pictures, so it shows what it has: the reference audio's
spectrum as bars (low frequencies left, high right, log-spaced bands, each bar's height its band's level over
the frame's 80 ms window), its waveform as a line through the middle, over a dark backdrop whose hues come from
the prompt's digest; every strong beat of the audio brightens the frame and pushes the bars in, easing back over
a quarter second. The prompt's grade words (`warm`, `mono`, `neon`…) grade it as they grade footage. The
soundtrack is the reference audio (in the prompt's mention order, looped or trimmed to the duration). The same
request and seed give the same frames.
"""

from __future__ import annotations

import colorsys
import hashlib
from collections.abc import Callable

import numpy as np

from refvid.engines.base import EngineInput, EngineOutput
from refvid.engines.compositor.clip import write_clip
from refvid.engines.compositor.grade import Grade
from refvid.engines.compositor.prompt_reader import read_prompt
from refvid.media.encode import EncoderSettings
from refvid.media.prompt_refs import mention_order
from refvid.media.soundtrack import SAMPLE_RATE, build_soundtrack, detect_onsets, strong_beats

BANDS = 48
WINDOW_S = 0.08
LOW_HZ, HIGH_HZ = 40.0, 12000.0
BEAT_DECAY_S = 0.25
BEAT_GAIN = 0.35  # how much brighter a frame on a full-strength beat is


def _levels(mono: np.ndarray, frames: int, fps: int) -> np.ndarray:
    """frames × BANDS band levels 0–1: log magnitude of each band over the window centred on each frame."""
    window = round(WINDOW_S * SAMPLE_RATE)
    padded = np.pad(mono, (window, window))
    starts = (np.arange(frames) * SAMPLE_RATE / fps).astype(np.int64) + window // 2
    blocks = padded[starts[:, None] + np.arange(window)[None, :]] * np.hanning(window)[None, :]
    spectrum = np.abs(np.fft.rfft(blocks, axis=1))
    freqs = np.fft.rfftfreq(window, 1.0 / SAMPLE_RATE)
    edges = np.geomspace(LOW_HZ, HIGH_HZ, BANDS + 1)
    index = np.clip(np.searchsorted(edges, freqs) - 1, -1, BANDS)
    levels = np.zeros((frames, BANDS), np.float32)
    for band in range(BANDS):
        chosen = index == band
        if chosen.any():
            levels[:, band] = spectrum[:, chosen].mean(axis=1)
    levels = np.log1p(levels * 50.0)
    normalised: np.ndarray = np.clip(levels / max(float(levels.max()), 1e-6), 0.0, 1.0)
    return normalised


def _beat_envelope(mono: np.ndarray, frames: int, fps: int) -> np.ndarray:
    """Per frame 0–1: the last strong beat's strength, decaying over BEAT_DECAY_S."""
    onsets, strengths = detect_onsets(mono)
    beats, power = strong_beats(mono, onsets, strengths)
    envelope = np.zeros(frames, np.float32)
    t = np.arange(frames) / fps
    for time_s, strength in zip(beats.tolist(), power.tolist(), strict=True):
        after = t - time_s
        envelope = np.maximum(envelope, np.where(after >= 0, strength * np.exp(-after / BEAT_DECAY_S), 0.0))
    return envelope


def render_audio_shot(job: EngineInput, encoder: EncoderSettings, check: Callable[[], None],
                      report: Callable[[float], None]) -> EngineOutput:
    out = job.output
    n, w, h, fps = out.frames, out.width, out.height, out.fps
    order = mention_order(job.prompt, "audio", len(job.audios))
    audio = build_soundtrack([job.audios[i].path for i in order], out.duration_s, check=check)
    mono = np.asarray(audio, np.float32).mean(axis=0) if audio.ndim == 2 else np.asarray(audio, np.float32)
    levels, beats = _levels(mono, n, fps), _beat_envelope(mono, n, fps)
    digest = int.from_bytes(hashlib.sha256(f"{job.prompt}|{out.seed}".encode()).digest()[:4], "big")
    hue = (digest % 1000) / 1000.0
    top = np.array(colorsys.hsv_to_rgb(hue, 0.6, 0.22), np.float32) * 255
    bottom = np.array(colorsys.hsv_to_rgb((hue + 0.08) % 1, 0.7, 0.06), np.float32) * 255
    backdrop = (top[None, :] + (bottom - top)[None, :] * np.linspace(0, 1, h, dtype=np.float32)[:, None])
    bar_colors = np.array([colorsys.hsv_to_rgb((hue + 0.5 + 0.3 * b / BANDS) % 1, 0.65, 1.0)
                           for b in range(BANDS)], np.float32) * 255
    band_of_x = np.minimum((np.arange(w) * BANDS) // w, BANDS - 1)
    gap = (np.arange(w) * BANDS) % w < max(1, w // (BANDS * 5))  # a thin dark gap between bars
    rows = np.arange(h, dtype=np.float32)[:, None]
    span = round(SAMPLE_RATE / fps)

    def frame_at(i: int) -> np.ndarray:
        beat = float(beats[i])
        heights = levels[i, band_of_x] * h * (0.55 + 0.2 * beat)
        base = h * 0.85
        lit = (rows > base - heights[None, :]) & (rows <= base) & ~gap[None, :]
        frame = np.broadcast_to(backdrop[:, None, :], (h, w, 3)) * (1.0 + BEAT_GAIN * beat)
        frame = np.where(lit[:, :, None], bar_colors[band_of_x][None, :, :] * (0.6 + 0.4 * beat), frame)
        chunk = mono[i * span:(i + 1) * span]
        if len(chunk):
            ys = (h * 0.4 - chunk[np.linspace(0, len(chunk) - 1, w).astype(int)] * h * 0.25).astype(int)
            frame[np.clip(ys, 0, h - 1), np.arange(w)] = 235.0
        return np.clip(frame, 0, 255).astype(np.uint8)

    directions = read_prompt(job.prompt)
    extra = {"mode": "audio", "made": "the reference audio's spectrum and waveform, pulsing on its beats",
             "beats": int((np.diff(np.concatenate([[0.0], beats])) > 0.3).sum()), "hue": round(hue, 3),
             "looks": sorted(directions.looks)}
    grade = Grade(directions.looks, w, h, out.seed, directions.variation)
    return write_clip(job, frame_at, encoder, check, report, extra, grade,
                      soundtrack=audio if out.generate_audio else None)
