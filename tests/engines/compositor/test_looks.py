"""Issue 26's looks: the warm grade keeps neutrals neutral, and a ratio crop keeps the picture's subject (a
red car at the bottom of a 4:3 road photo under a busy tree line) instead of its centre."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from refvid.engines.compositor.framing import fit_frame
from refvid.engines.compositor.grade import Grade
from refvid.engines.compositor.prompt_reader import read_prompt
from refvid.media.encode import PlanarFrame
from tests.support.compositor import decode_frames, probe_ref, run_engine
from tests.support.media_factory import write_image


def test_warm_golden_hour_keeps_a_grey_road_grey() -> None:
    looks = read_prompt("warm golden hour").looks
    for grey in (60, 118, 190):
        frame = PlanarFrame(64, 64)
        i420 = cv2.cvtColor(np.full((64, 64, 3), grey, np.uint8), cv2.COLOR_RGB2YUV_I420)
        frame.y[...], frame.u[...], frame.v[...] = i420[:64], i420[64:80].reshape(32, 32), i420[80:].reshape(32, 32)
        Grade(looks, 64, 64, seed=3).apply(0, frame.planes)
        chroma = np.hypot(frame.u.astype(float) - 128, frame.v.astype(float) - 128)
        assert chroma.max() <= 4.5, (grey, chroma.max())  # the old grade moved grey by 21: muddy brown
        rgb = frame.frame.to_ndarray(format="rgb24").astype(int)
        assert (rgb[..., 0] - rgb[..., 2]).max() <= 12, grey


def road_photo() -> np.ndarray:
    """1200×900: sky, a busy tree line, a gravelly grey road with a lane line, a red car at the bottom."""
    rng = np.random.default_rng(5)
    rgb = np.zeros((900, 1200, 3), np.float32)
    rgb[:450] = np.linspace([90, 140, 220], [170, 200, 235], 450)[:, None, :]
    leaves = cv2.resize(rng.integers(0, 2, (25, 150)).astype(np.float32), (1200, 200),
                        interpolation=cv2.INTER_NEAREST)
    rgb[250:450] = np.stack([30 + 60 * leaves, 70 + 90 * leaves, 30 + 40 * leaves], axis=-1)
    rgb[450:] = 118.0 + cv2.GaussianBlur(rng.normal(0, 30, (450, 1200)).astype(np.float32), (0, 0), 0.8)[..., None]
    rgb[560:575] = 235
    rgb[700:880, 300:900] = [200, 30, 30]
    rgb[720:780, 380:820] = 30
    rgb[850:880, 340:420] = rgb[850:880, 780:860] = 15
    return np.clip(rgb + rng.normal(0, 3, rgb.shape), 0, 255).astype(np.uint8)


def red_pixels(rgb: np.ndarray) -> int:
    r, g = rgb[..., 0].astype(int), rgb[..., 1].astype(int)
    return int(((r > 150) & (g < 80)).sum())


def test_a_16_9_crop_of_a_4_3_photo_keeps_the_car_at_the_bottom(tmp_path: Path) -> None:
    photo = road_photo()
    whole = red_pixels(cv2.resize(photo, (864, 648), interpolation=cv2.INTER_AREA))  # the car at output scale
    centre = photo[112:787]  # what a centre crop would keep: the car's top third
    assert red_pixels(cv2.resize(centre, (864, 486), interpolation=cv2.INTER_AREA)) < 0.6 * whole
    assert red_pixels(fit_frame(photo, 864, 496)) >= 0.95 * whole  # image-to-video's first frame
    path = write_image(tmp_path / "road.png", photo)
    out = run_engine(tmp_path / "work", [probe_ref("image", path)], "static camera", audio=False)
    assert red_pixels(decode_frames(out.video_path, stride=200)[0]) >= 0.9 * whole  # a reference shot
