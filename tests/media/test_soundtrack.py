"""media/soundtrack.py and media/ambience.py: loading, sequencing/looping/trimming, fades, onsets, ambience."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from refvid.media.soundtrack import (
    SAMPLE_RATE,
    build_soundtrack,
    detect_onsets,
    fit_length,
    load_audio,
    synthesize_ambience,
)
from tests.support.media_factory import clicks, make_mp3, make_video, make_wav


@pytest.mark.parametrize("maker", [make_wav, make_mp3])
def test_load_resamples_to_48k_stereo_without_shifting(tmp_path: Path, maker) -> None:  # type: ignore[no-untyped-def]
    path = maker(tmp_path / ("a.wav" if maker is make_wav else "a.mp3"), seconds=2.0, onsets_s=(0.5, 1.2))
    audio = load_audio(path)
    assert audio.dtype == np.float32 and audio.shape[0] == 2
    assert audio.shape[1] == pytest.approx(2 * SAMPLE_RATE, abs=1200)
    assert np.array_equal(audio[0], audio[1])  # mono duplicated
    times, _ = detect_onsets(audio)
    assert np.allclose(times, [0.5, 1.2], atol=0.005)


def test_video_sound_track_can_be_loaded(tmp_path: Path) -> None:
    audio = load_audio(make_video(tmp_path / "v.mp4", 160, 96, seconds=2.0, with_audio=True))
    assert audio.shape[0] == 2 and audio.shape[1] > SAMPLE_RATE


def test_clips_play_in_order_loop_and_trim() -> None:
    a = np.ones((2, 1000), np.float32)
    b = -np.ones((2, 500), np.float32)
    out = fit_length([a, b], 4000)
    assert out.shape == (2, 4000)
    assert out[0, 500] == 1 and out[0, 1250] == -1 and out[0, 2000] == 1  # a, b, then a again
    assert out[0, 0] == 0 and out[0, 999] < 0.01  # 5 ms fades at the joins, no clicks
    assert fit_length([], 10).shape == (2, 10)
    assert fit_length([a], 0).shape == (2, 0)


def test_soundtrack_is_faded_and_exact_length(tmp_path: Path) -> None:
    path = make_wav(tmp_path / "a.wav", seconds=3.0, onsets_s=(0.5, 1.5))
    track = build_soundtrack([path], 5.0)
    assert track.shape == (2, 5 * SAMPLE_RATE)
    assert track[0, 0] == 0 and track[0, -1] == 0
    times, strengths = detect_onsets(track)
    assert np.allclose(times, [0.5, 1.5, 3.5, 4.5], atol=0.005)  # looped after 3 s
    assert strengths.max() == pytest.approx(1.0)


def test_onsets_ignore_a_steady_tone() -> None:
    t = np.arange(3 * SAMPLE_RATE) / SAMPLE_RATE
    times, _ = detect_onsets(0.3 * np.sin(2 * np.pi * 440 * t).astype(np.float32))
    assert len(times) <= 1  # at most the tone's start
    noise = np.random.default_rng(0).normal(0, 0.1, len(t)).astype(np.float32)
    assert len(detect_onsets(noise)[0]) <= 1
    assert len(detect_onsets(np.zeros(SAMPLE_RATE, np.float32))[0]) == 0
    hits = clicks(3.0, (0.25, 0.9, 2.0), sample_rate=SAMPLE_RATE)
    assert np.allclose(detect_onsets(hits)[0], [0.25, 0.9, 2.0], atol=0.005)


def test_ambience_is_seeded_audible_and_alive() -> None:
    a = synthesize_ambience(6.0, 3)
    assert a.shape == (2, 6 * SAMPLE_RATE) and a.dtype == np.float32
    assert np.array_equal(a, synthesize_ambience(6.0, 3))
    b = synthesize_ambience(6.0, 4)
    assert abs(np.corrcoef(a[0], b[0])[0, 1]) < 0.3
    middle = a[0, SAMPLE_RATE:5 * SAMPLE_RATE]
    assert 0.01 < np.sqrt((middle**2).mean()) < 0.2 and np.abs(a).max() <= 0.9
    rms = np.sqrt((middle.reshape(-1, SAMPLE_RATE // 4) ** 2).mean(axis=1))
    assert rms.std() / rms.mean() > 0.05  # it breathes
    spectrum = np.abs(np.fft.rfft(middle))
    assert spectrum.max() / spectrum.sum() < 0.05  # not one tone
    assert not np.array_equal(a[0], a[1])  # stereo
    assert synthesize_ambience(0, 1).shape == (2, 0)
