"""Beat accents: only strong beats (low-band hits, or onsets far above the median) that also stand out from
the beats around them get one, at most one per 2 s, as an eased pulse; a click track and a steady kick track
give no accent at all (the picture must not throb on every beat), a louder downbeat does."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from refvid.engines.compositor.motion import accent_pulses
from refvid.engines.compositor.timeline import ACCENT_GAP_S, accent_frames, standout_beats
from refvid.media.soundtrack import detect_onsets, strong_beats
from tests.support.compositor import probe_ref, run_engine
from tests.support.frame_motion import decode_rgb, scale_steps
from tests.support.media_factory import clicks, make_image, wav_bytes

RATE = 48_000


def kick_track(seconds: float, bpm: float = 120.0, click: float = 0.6, downbeat_every: int = 0) -> np.ndarray:
    """Mono kicks (a 150 → 50 Hz sweep) gated hard after 120 ms, each gate ending in a loud broadband click:
    the newcomer's loop, where the clicks used to count as beats. With `downbeat_every` = k, every k-th kick
    (from the first) is twice as loud as the others."""
    n, rng = round(seconds * RATE), np.random.default_rng(3)
    out = np.zeros(n, np.float32)
    t = np.arange(round(0.12 * RATE)) / RATE
    kick = 0.9 * np.sin(2 * np.pi * np.cumsum(50 + 100 * np.exp(-t * 30)) / RATE) * np.exp(-t * 8)
    for beat, start_s in enumerate(np.arange(0.0, seconds, 60.0 / bpm)):
        s = round(start_s * RATE)
        e = min(n, s + len(kick))
        out[s:e] += kick[: e - s] * (1.0 if not downbeat_every or beat % downbeat_every == 0 else 0.5)
        c = min(n, e + 96)
        out[e:c] += click * rng.uniform(-1, 1, c - e) * np.exp(-np.arange(c - e) / 20)
    return out


def beats_of(mono: np.ndarray) -> np.ndarray:
    stereo = np.stack([mono, mono])
    onsets, strengths = detect_onsets(stereo)
    return strong_beats(stereo, onsets, strengths)[0]


def test_kicks_are_beats_and_their_gate_clicks_are_not() -> None:
    beats = beats_of(kick_track(4.0))
    kicks = np.arange(0.5, 4.0, 0.5)
    assert len(beats) == len(kicks)
    assert np.abs(beats - kicks).max() < 0.03


def test_an_even_click_track_has_no_strong_beat() -> None:
    assert len(beats_of(clicks(4.0, [0.5, 1.0, 1.5, 2.0, 2.5, 3.0], sample_rate=RATE))) == 0


def test_one_onset_far_above_the_rest_is_a_beat() -> None:
    quiet = clicks(4.0, [0.5, 1.0, 2.0, 2.5, 3.0], sample_rate=RATE) * 0.15
    loud = quiet + clicks(4.0, [1.5], sample_rate=RATE) - 0.1 * np.sin(2 * np.pi * 220 * np.arange(4 * RATE) / RATE)
    beats = beats_of(loud.astype(np.float32))
    assert len(beats) == 1 and abs(beats[0] - 1.5) < 0.03


def test_at_most_one_accent_per_0_4_s_strongest_first() -> None:
    assert accent_frames([1.0, 1.2, 1.3, 2.0], [0.5, 0.9, 0.4, 0.6], 24, 96, cuts=[]) == [29, 48]
    assert accent_frames([0.5, 1.0, 1.5], [1.0, 1.0, 1.0], 24, 96, cuts=[]) == [12, 24, 36]


def test_pulses_ease_in_and_out_and_never_stack() -> None:
    pulse = accent_pulses(96, [10, 13, 40])
    assert np.abs(np.diff(pulse)).max() <= 0.005  # ≤ 0.5 % scale per frame, even inside an accent
    assert pulse.max() <= 0.0151  # overlapping accents take the maximum, no double push
    assert pulse[:10].max() == 0 and pulse[40 + 15:].max() == 0


def test_every_beat_of_a_steady_track_is_alike_so_none_is_accented() -> None:
    times = list(np.arange(0.5, 10.0, 0.5))
    assert standout_beats(times, [0.8] * len(times)) == ([], [])
    assert standout_beats([1.0, 6.0], [0.3, 0.9]) == ([1.0, 6.0], [0.3, 0.9])  # lone hits stand out


def test_louder_downbeats_are_accented_two_seconds_apart() -> None:
    stereo = np.stack([kick_track(8.0, downbeat_every=4)] * 2)
    onsets, strengths = detect_onsets(stereo)
    beats = strong_beats(stereo, onsets, strengths)
    assert len(beats[0]) >= 14  # every kick is a beat…
    frames = accent_frames(*standout_beats(*(b.tolist() for b in beats)), 24, 192, cuts=[], min_gap_s=ACCENT_GAP_S)
    assert frames and all(min(abs(f - d) for d in (48, 96, 144)) <= 1 for f in frames)  # …the downbeats accented


def test_a_steady_kick_track_does_not_make_the_picture_throb(tmp_path: Path) -> None:
    image = make_image(tmp_path / "photo.png", 1200, 800, seed=11)
    audio = tmp_path / "kicks.wav"
    audio.write_bytes(wav_bytes(kick_track(4.0), RATE))
    out = run_engine(tmp_path / "work", [probe_ref("image", image), probe_ref("audio", audio)],
                     "@Image1 with @Audio1")
    assert out.extra["accents"] == []
    steps = scale_steps(decode_rgb(out.video_path))
    assert np.abs(steps).max() <= 0.003, steps  # no pulse on any of the eight kicks
