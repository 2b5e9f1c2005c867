"""Issue 3 acceptance: generated references with known content in, measured output out.

- look: an image-only video matches its image (colour histogram, template match at the reported scale);
- motion: a reference video's known pan → zoom → rotate path is found again, time-scaled, in the output;
- sound: the output audio is the reference audio; cuts land on its onsets;
- order: shots follow the prompt's mentions.
The measurements here are written independently of the engine's own motion/onset code.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.support.compositor import decode_audio, decode_frames, probe_ref, run_engine
from tests.support.media_factory import clicks, make_image, make_video, make_wav, pan_zoom_rotate

TINTS = {"red": (230, 40, 40), "green": (40, 200, 60), "blue": (40, 60, 230)}


def hist_correlation(a: np.ndarray, b: np.ndarray) -> float:
    ha, hb = (cv2.normalize(cv2.calcHist([x], [0, 1, 2], None, [8, 8, 8], [0, 256] * 3),
                            None).flatten()  # type: ignore[call-overload, unused-ignore]
              for x in (a, b))
    return float(cv2.compareHist(ha, hb, cv2.HISTCMP_CORREL))


def global_motion(frames: list[np.ndarray]) -> np.ndarray:
    """Cumulative content motion per frame about the frame centre: (tx px, ty px, angle deg, scale)."""
    h, w = frames[0].shape[:2]
    centre = np.array([[1, 0, -w / 2], [0, 1, -h / 2], [0, 0, 1.0]])
    total, rows = np.eye(3), [(0.0, 0.0, 0.0, 1.0)]
    prev = cv2.cvtColor(frames[0], cv2.COLOR_RGB2GRAY)
    for frame in frames[1:]:
        gray = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
        pts = cv2.goodFeaturesToTrack(prev, 500, 0.01, 7)
        nxt, ok, _ = cv2.calcOpticalFlowPyrLK(prev, gray, pts, None)  # type: ignore[call-overload, unused-ignore]
        m, _ = cv2.estimateAffinePartial2D(pts[ok == 1], nxt[ok == 1], method=cv2.RANSAC)
        total = centre @ np.vstack([m, [0, 0, 1]]) @ np.linalg.inv(centre) @ total
        rows.append((total[0, 2], total[1, 2], np.degrees(np.arctan2(total[1, 0], total[0, 0])),
                     float(np.hypot(total[0, 0], total[1, 0]))))
        prev = gray
    return np.array(rows)


def test_image_only_output_looks_like_the_image(tmp_path: Path) -> None:
    path = make_image(tmp_path / "photo.png", 800, 600, seed=21)
    reference = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)  # type: ignore[arg-type]
    out = run_engine(tmp_path / "work", [probe_ref("image", path)], "a slow shot of @Image1", ratio="4:3")
    lo, hi = out.extra["camera_scale"]
    assert 0 < lo <= hi < lo * 1.2  # a gentle move
    frames = decode_frames(out.video_path)
    for frame in (frames[0], frames[len(frames) // 2], frames[-1]):
        assert hist_correlation(frame, reference) >= 0.9
        scaled = cv2.resize(reference, None, fx=(lo + hi) / 2, fy=(lo + hi) / 2, interpolation=cv2.INTER_AREA)
        th, tw = frame.shape[0] // 2, frame.shape[1] // 2
        y0, x0 = (scaled.shape[0] - th) // 2, (scaled.shape[1] - tw) // 2
        score = cv2.matchTemplate(frame, scaled[y0:y0 + th, x0:x0 + tw], cv2.TM_CCOEFF_NORMED).max()
        assert score >= 0.8
    assert not np.array_equal(frames[0], frames[-1])  # the camera moves


def test_camera_motion_of_the_reference_video_is_replayed(tmp_path: Path) -> None:
    image = make_image(tmp_path / "still.png", 960, 540, seed=22)
    video = make_video(tmp_path / "camera.mp4", 480, 270, seconds=3.0)
    refs = [probe_ref("image", image), probe_ref("video", video)]
    out = run_engine(tmp_path / "work", refs, "@Image1 with the camera movement of @Video1", duration=4,
                     audio=False)
    motion = global_motion(decode_frames(out.video_path))
    n = len(motion)
    path = np.array([pan_zoom_rotate(i / (n - 1)) for i in range(n)])  # time-scaled to the output
    # The camera pans right (content moves left), zooms in, rolls (content turns the other way in y-down).
    assert np.corrcoef(motion[:, 0], -path[:, 0])[0, 1] >= 0.8
    assert np.corrcoef(motion[:, 2], -path[:, 2])[0, 1] >= 0.8
    assert np.corrcoef(motion[:, 3], path[:, 3])[0, 1] >= 0.8


@pytest.mark.parametrize("source_rate", [48000, 44100])
def test_soundtrack_is_the_reference_audio(tmp_path: Path, source_rate: int) -> None:
    onsets = (0.4, 1.3, 2.2, 3.1)
    audio = make_wav(tmp_path / "music.wav", seconds=4.0, onsets_s=onsets, sample_rate=source_rate)
    image = make_image(tmp_path / "still.png", 640, 480, seed=23)
    out = run_engine(tmp_path / "work", [probe_ref("image", image), probe_ref("audio", audio)], duration=4)
    samples, rate = decode_audio(out.video_path)
    source = clicks(4.0, onsets, sample_rate=source_rate)
    # The reference on the output's clock (linear interpolation is enough to compare).
    reference = np.interp(np.arange(4 * rate) / rate, np.arange(len(source)) / source_rate, source)
    n = min(samples.shape[1], len(reference)) - rate // 2  # the overlap, before the fade-out
    for channel in samples:
        assert np.corrcoef(channel[:n], reference[:n])[0, 1] >= 0.9


def test_cuts_land_on_the_audio_onsets(tmp_path: Path) -> None:
    onsets = (0.5, 1.5, 2.5)
    images = [probe_ref("image", make_image(tmp_path / f"{name}.png", 640, 480, seed=k, tint=tint), k)
              for k, (name, tint) in enumerate(TINTS.items())]
    audio = probe_ref("audio", make_wav(tmp_path / "beat.wav", seconds=4.0, onsets_s=onsets))
    out = run_engine(tmp_path / "work", [*images, audio], "@Image1, @Image2, @Image3 on the beat of @Audio1")
    frames = np.stack(decode_frames(out.video_path)).astype(np.float32)
    change = np.abs(np.diff(frames.mean(axis=(1, 2)), axis=0)).sum(axis=1)  # colour jump between frames
    cuts = [i + 1 for i in np.flatnonzero(change > 20)]
    assert len(cuts) == 2
    for cut in cuts:
        assert min(abs(cut / 24 - t) for t in onsets) <= 1 / 24 + 1e-9


def test_shots_follow_the_mention_order(tmp_path: Path) -> None:
    images = [probe_ref("image", make_image(tmp_path / f"{name}.png", 640, 480, seed=k, tint=tint), k)
              for k, (name, tint) in enumerate(TINTS.items())]
    out = run_engine(tmp_path / "work", images, "Start on @image3, then show @IMAGE1", duration=6, audio=False)
    assert [s["source"] for s in out.extra["shots"]] == ["@Image3", "@Image1", "@Image2"]
    frames = decode_frames(out.video_path)
    seen = []
    for shot in out.extra["shots"]:
        middle = frames[(shot["start_frame"] + shot["end_frame"]) // 2].reshape(-1, 3).mean(axis=0)
        seen.append(list(TINTS)[int(np.argmax(middle))])
    assert seen == ["blue", "red", "green"]


@pytest.mark.parametrize("prompt", ["@图像2 然后 @图像1", "@Image2 then @Image1"])
def test_chinese_mentions_order_shots_too(tmp_path: Path, prompt: str) -> None:
    images = [probe_ref("image", make_image(tmp_path / f"{k}.png", 640, 480, seed=k), k) for k in range(2)]
    out = run_engine(tmp_path / "work", images, prompt, duration=2, audio=False)
    assert [s["source"] for s in out.extra["shots"]] == ["@Image2", "@Image1"]
