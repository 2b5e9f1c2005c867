"""media/motion.py and media/camera.py: estimating a known camera path, chaining, the seeded move, and
replaying a track over a still without showing past its edges."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from refvid.engines.compositor.camera import plan_shot_camera
from refvid.engines.compositor.motion import (
    CameraTrack,
    accent_pulses,
    concat_tracks,
    estimate_track,
    gentle_params,
    matrix_to_params,
    params_to_matrix,
    relative_params,
    smooth_params,
)
from tests.support.media_factory import make_video, pan_zoom_rotate


@pytest.fixture(scope="module")
def camera_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_video(tmp_path_factory.mktemp("motion") / "camera.mp4", 640, 360, seconds=3.0)


def test_estimated_track_follows_the_known_path(camera_video: Path) -> None:
    calls: list[float] = []
    track = estimate_track(camera_video, on_progress=calls.append)
    assert track.duration_s == pytest.approx(71 / 24, abs=1e-3)
    assert calls and calls[-1] > 0.9
    path = np.array([pan_zoom_rotate(t / track.duration_s) for t in track.times_s])
    unit = np.sqrt(640 * 360)
    # Content moves opposite to the camera; y-down images turn the roll's sign.
    assert np.corrcoef(track.params[:, 0], -path[:, 0])[0, 1] > 0.95
    assert np.corrcoef(track.params[:, 2], -path[:, 2])[0, 1] > 0.99
    assert np.corrcoef(np.exp(track.params[:, 3]), path[:, 3])[0, 1] > 0.99
    # Magnitudes too: 120 px pan (grown by the 1.25 zoom about the centre), 12°, ×1.25.
    end = track.params[-1]
    assert abs(end[0] * unit) == pytest.approx(150, rel=0.1)
    assert np.degrees(-end[2]) == pytest.approx(12, abs=1)
    assert np.exp(end[3]) == pytest.approx(1.25, abs=0.03)


def test_estimation_honours_the_stop_check(camera_video: Path) -> None:
    seen = []

    def check() -> None:
        seen.append(1)
        if len(seen) > 5:
            raise RuntimeError("stop")

    with pytest.raises(RuntimeError):
        estimate_track(camera_video, check=check)


def test_resample_is_time_scaled() -> None:
    track = CameraTrack(np.array([0.0, 1.0, 2.0]), np.array([[0, 0, 0, 0], [1, 0, 0, 0], [2, 0, 0, 0.0]]), 2.0)
    out = track.resample(5)
    assert out.shape == (5, 4)
    assert np.allclose(out[:, 0], [0, 0.5, 1, 1.5, 2])


def test_params_round_trip_and_relative() -> None:
    p = np.array([0.1, -0.2, 0.3, 0.05])
    assert np.allclose(matrix_to_params(params_to_matrix(p)), p)
    rows = np.array([[0, 0, 0, 0], p, 2 * p])
    rel = relative_params(rows, 1)
    assert np.allclose(rel[1], 0)
    assert np.allclose(params_to_matrix(rel[2]) @ params_to_matrix(p), params_to_matrix(2 * p))


def test_concat_continues_from_the_previous_end() -> None:
    a = CameraTrack(np.array([0.0, 1.0]), np.array([[0, 0, 0, 0], [0.1, 0, 0, 0.0]]), 1.0)
    b = CameraTrack(np.array([0.0, 2.0]), np.array([[0, 0, 0, 0], [0.2, 0, 0, 0.0]]), 2.0)
    both = concat_tracks([a, b], gap_s=0.0)
    assert both.duration_s == pytest.approx(3.0)
    assert np.allclose(both.params[-1, 0], 0.3)


def test_smoothing_keeps_a_steady_move() -> None:
    ramp = np.stack([np.linspace(0, 1, 30)] * 4, axis=1)
    noisy = ramp + np.random.default_rng(0).normal(0, 0.01, ramp.shape)
    smooth = smooth_params(noisy, 2.0)
    assert np.abs(smooth - ramp).max() < np.abs(noisy - ramp).max() + 0.01
    assert smooth[-1, 0] == pytest.approx(1.0, abs=0.03)  # no sag at the end


def test_gentle_move_is_seeded_and_gentle() -> None:
    a, b = gentle_params(120, 7), gentle_params(120, 8)
    assert np.array_equal(a, gentle_params(120, 7)) and not np.array_equal(a, b)
    assert np.allclose(a[0], 0)
    assert np.abs(a[:, :2]).max() <= 0.02 and np.abs(np.degrees(a[:, 2])).max() <= 0.4
    assert np.abs(np.expm1(a[:, 3])).max() <= 0.05


def test_accents_start_on_their_frames() -> None:
    pulse = accent_pulses(48, [10, 30])
    assert pulse[:10].max() == 0 and pulse[10] > 0
    assert pulse[11:14].max() > pulse[10]  # a quick rise…
    assert pulse[29] < pulse[12]  # …then it eases back


@pytest.mark.parametrize("move", [0.0, 0.05, 0.4])
def test_camera_plan_never_leaves_the_picture(move: float) -> None:
    n, out_w, out_h = 48, 640, 360
    u = np.linspace(0, 1, n)[:, None]
    rel = np.hstack([u * move, -u * move / 2, u * np.radians(30) * move * 5, u * np.log(0.8)])  # includes zoom-out
    view_w, view_h = 640 * 4 / 3 * 360 / 360, 480.0  # a 4:3 picture covering 16:9 at zoom 1
    camera = plan_shot_camera(rel, view_w, view_h, out_w, out_h, subject=(view_w / 2, view_h / 2))
    k = 1.5
    matrices = camera.matrices(k)
    corners = np.array([[0, 0, 1], [out_w, 0, 1], [0, out_h, 1], [out_w, out_h, 1.0]])
    for m in matrices:
        inverse = np.linalg.inv(np.vstack([m, [0, 0, 1]]))
        source = (inverse @ corners.T)[:2] / k  # in view pixels
        assert source.min() >= -1.0
        assert (source[0].max() <= view_w + 1.0) and (source[1].max() <= view_h + 1.0)
    assert 0.0 <= camera.damping <= 1.0 and camera.base_zoom >= 1.0
    if move == 0.0:
        assert camera.damping == 1.0
