"""Audio references alone on the compositor (Seedance 2.5): the picture is drawn from the sound. A click track
lights the frames on its clicks (beat pulses) and stays dark between them, and the soundtrack is the reference."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tests.support import media_factory as mf
from tests.support.compositor import decode_frames, probe_ref, run_engine
from tests.support.video_checks import assert_contract


def test_audio_only_draws_the_sound_and_keeps_it(tmp_path: Path) -> None:
    wav = mf.make_wav(tmp_path / "clicks.wav", seconds=4.0, onsets_s=(0.5, 1.5, 2.5))
    made = run_engine(tmp_path / "work", [probe_ref("audio", wav)], "pulses to @Audio1", duration=4,
                      model="seedance-2.5-reference-to-video")
    assert_contract(made.video_path, 864, 496, 4, has_audio=True)
    assert made.extra["mode"] == "audio" and made.extra["audio"] == "reference"
    frames = decode_frames(made.video_path)
    brightness = np.array([float(frame.mean()) for frame in frames])
    on_clicks = [brightness[round(t * 24) + 1] for t in (0.5, 1.5, 2.5)]
    between = [brightness[round(t * 24)] for t in (1.2, 2.2, 3.2)]
    assert min(on_clicks) > max(between) + 2.0, (on_clicks, between)  # the picture follows the audio
