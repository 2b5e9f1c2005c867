"""Edit and extend (`omni_reference_task_type`) on the compositor, with PyAV-made reference videos whose motion
and timing are known: extend starts on the reference's last frame and carries its pan on in the same direction
at about the same speed; edit keeps the reference's timing (a flash at 1.5 s in a 30 fps video is at 1.5 s of the
24 fps output) and regrades it by the prompt's look words."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from refvid.engines.compositor.rework import continued_path
from refvid.errors import TaskFailure
from refvid.media.conform import fit
from tests.support import media_factory as mf
from tests.support.compositor import decode_frames, probe_ref, run_engine
from tests.support.frame_motion import saturation, travel
from tests.support.video_checks import assert_contract

MODEL = "seedance-2.5-reference-to-video"
W, H = 480, 272  # the references (16:9-ish); the outputs are 480p 16:9: 864×496


def test_extend_starts_on_the_last_frame_and_carries_the_pan_on(tmp_path: Path) -> None:
    ref_frames = mf.camera_frames(W, H, 48, lambda t: (60.0 * t, 0.0, 0.0, 1.0))  # the camera pans right
    video = mf.write_video(tmp_path / "pan.mp4", ref_frames)
    made = run_engine(tmp_path / "work", [probe_ref("video", video)], "@Video1 goes on", duration=4, audio=False,
                      model=MODEL, task_type="extend")
    assert_contract(made.video_path, 864, 496, 4, has_audio=False)
    assert made.extra["task_type"] == "extend" and made.extra["ease_s"] is None
    out = decode_frames(made.video_path)
    assert np.abs(out[0].astype(int) - fit(ref_frames[-1], 864, 496).astype(int)).mean() < 6.0

    ref_dx = travel(ref_frames[-13], ref_frames[-1])[0] * 864 / W / 12  # px per frame, at the output's size
    assert ref_dx < -0.8  # the content slides left as the camera pans right
    for start in (0, 40, 80):
        dx, dy = travel(out[start], out[start + 12])
        assert 0.6 < dx / 12 / ref_dx < 1.5, (start, dx / 12, ref_dx)  # same direction, about the same speed
        assert abs(dy) < 2.0


def test_a_move_too_long_to_carry_on_eases_out_instead_of_showing_past_its_edges() -> None:
    rate = np.array([-0.4, 0.0, 0.0, 0.0])  # 40 % of the frame per second, for 30 s
    rows, ease_s = continued_path(rate, 30 * 24, 24, 864, 496)
    assert ease_s is not None and float(np.exp(rows[:, 3]).max()) <= 1.8
    assert np.all(np.diff(rows[:, 0]) < 0)  # still moving the same way, to the end
    assert abs((rows[1, 0] - rows[0, 0]) * 24 - rate[0]) < 0.01  # at the measured speed at the seam


def test_edit_keeps_the_timing_and_regrades_by_the_prompt(tmp_path: Path) -> None:
    video = probe_ref("video", mf.make_flash_video(tmp_path / "flash.mp4", W, H))
    plain = run_engine(tmp_path / "plain", [video], "@Video1", duration=4, audio=False, model=MODEL,
                       task_type="edit")
    mono = run_engine(tmp_path / "mono", [video], "@Video1 in black and white", duration=4, audio=False,
                      model=MODEL, task_type="edit")
    assert_contract(mono.video_path, 864, 496, 4, has_audio=False)
    assert mono.extra["looks"] == ["mono"] and plain.extra["looks"] == []
    for made in (plain, mono):
        brightness = np.array([frame.mean() for frame in decode_frames(made.video_path)])
        flashed = np.flatnonzero(brightness > 200)
        assert flashed.tolist() == [36, 37, 38], flashed  # 1.5 s × 24 fps: where the 30 fps flash was
    plain_frame, mono_frame = decode_frames(plain.video_path)[10], decode_frames(mono.video_path)[10]
    assert saturation(plain_frame) > 40 and saturation(mono_frame) < 8
    assert np.abs(plain_frame.mean(axis=2) - mono_frame.mean(axis=2)).mean() < 25  # the same picture, regraded


def test_edit_needs_four_seconds_of_video(tmp_path: Path) -> None:
    video = probe_ref("video", mf.make_flash_video(tmp_path / "short.mp4", W, H, seconds=3.0))
    with pytest.raises(TaskFailure) as failed:
        run_engine(tmp_path / "work", [video], "@Video1", duration=4, audio=False, model=MODEL, task_type="edit")
    assert failed.value.code == "reference_invalid" and "at least 4 s" in failed.value.message
