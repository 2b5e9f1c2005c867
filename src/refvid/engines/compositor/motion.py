"""Global camera motion: estimated from reference videos, or a gentle seeded move, as similarity transforms.

A camera *track* is the cumulative content motion relative to the first frame, one row per sample:
`(tx, ty, angle_rad, log_scale)` of the transform that maps where content was in frame 0 to where it is now,
taken about the frame centre, with translation in units of √(frame area). Those units make a track
independent of the pixel size, so a 640×360 reference's pan replays over a 1280×720 shot as the same
fraction of the frame.

Estimation: frames are decoded streaming (reference frames only) and analysed as ≤ 320 px wide luma, at most
12 per second; corners (Shi–Tomasi) are tracked to the next sample with pyramidal Lucas–Kanade, checked
forwards-backwards, and a similarity (rotation, uniform scale, translation) is fitted with RANSAC. Steps are
chained, then lightly smoothed to remove jitter.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import av
import cv2
import numpy as np

ESTIMATE_WIDTH = 256
MAX_SAMPLES_PER_S = 8.0  # camera paths are smooth; more samples cost time and add nothing


@dataclass(frozen=True)
class CameraTrack:
    """`params[i]` is the cumulative (tx, ty, angle_rad, log_scale) at `times_s[i]` (first time is 0);
    `duration_s` is the time of the video's last frame (the pose holds after the last sample)."""

    times_s: np.ndarray
    params: np.ndarray
    duration_s: float

    def resample(self, n: int) -> np.ndarray:
        """Time-scaled to `n` output frames: frame i shows the track at i/(n-1) of its length. (n, 4)."""
        if len(self.times_s) < 2 or n < 2 or self.duration_s <= 0:
            return np.zeros((max(n, 0), 4))
        at = np.linspace(0.0, self.duration_s, n)
        return np.stack([np.interp(at, self.times_s, self.params[:, k]) for k in range(4)], axis=1)


def params_to_matrix(p: Sequence[float] | np.ndarray) -> np.ndarray:
    """(tx, ty, angle, log_scale) → 3×3 similarity in centred, area-normalised coordinates."""
    tx, ty, angle, log_s = (float(v) for v in p)
    s = np.exp(log_s)
    c, si = s * np.cos(angle), s * np.sin(angle)
    return np.array([[c, -si, tx], [si, c, ty], [0.0, 0.0, 1.0]])


def matrix_to_params(m: np.ndarray) -> np.ndarray:
    """Inverse of `params_to_matrix` (angle in (-π, π])."""
    return np.array([m[0, 2], m[1, 2], np.arctan2(m[1, 0], m[0, 0]), np.log(np.hypot(m[0, 0], m[1, 0]))])


def _chain(steps: Sequence[np.ndarray], start: np.ndarray | None = None) -> np.ndarray:
    """Cumulative params of the step matrices composed in order, angles unwrapped. (len(steps)+1, 4)."""
    current = np.eye(3) if start is None else start
    rows = [matrix_to_params(current)]
    for step in steps:
        current = step @ current
        rows.append(matrix_to_params(current))
    out = np.array(rows)
    out[:, 2] = np.unwrap(out[:, 2])
    return out


def smooth_params(params: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian smoothing along time. Edges are padded by point reflection, so a steady move keeps its speed
    up to the ends; the start is then pinned back to where it was (the identity)."""
    if sigma <= 0 or len(params) < 3:
        return params.copy()
    radius = min(max(1, int(3 * sigma)), len(params) - 1)
    kernel = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    kernel /= kernel.sum()
    padded = np.pad(params, ((radius, radius), (0, 0)), mode="reflect", reflect_type="odd")
    out = np.stack([np.convolve(padded[:, k], kernel, mode="valid") for k in range(params.shape[1])], axis=1)
    smoothed: np.ndarray = out - out[:1] + params[:1]
    return smoothed


def _step_similarity(prev: np.ndarray, cur: np.ndarray) -> np.ndarray | None:
    """2×3 similarity mapping `prev` content to `cur` (pixels), or None when it cannot be told."""
    pts = cv2.goodFeaturesToTrack(prev, maxCorners=200, qualityLevel=0.01, minDistance=6, blockSize=7)
    if pts is None or len(pts) < 8:
        return None
    criteria = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 20, 0.03)
    nxt, status, _ = cv2.calcOpticalFlowPyrLK(prev, cur, pts, np.empty(0), winSize=(21, 21), maxLevel=3,
                                              criteria=criteria)
    back, status_back, _ = cv2.calcOpticalFlowPyrLK(cur, prev, nxt, np.empty(0), winSize=(21, 21), maxLevel=3,
                                                    criteria=criteria)
    ok = (status.ravel() == 1) & (status_back.ravel() == 1)
    ok &= np.linalg.norm((back - pts).reshape(-1, 2), axis=1) < 1.0
    if ok.sum() < 8:
        return None
    m, inliers = cv2.estimateAffinePartial2D(pts[ok], nxt[ok], method=cv2.RANSAC, ransacReprojThreshold=1.0,
                                             maxIters=2000, confidence=0.995, refineIters=10)
    if m is None or inliers is None or int(inliers.sum()) < 6:
        return None
    return np.asarray(m, np.float64)


def _normalised(m: np.ndarray, width: int, height: int) -> np.ndarray:
    """2×3 pixel transform → 3×3 about the frame centre, translation in √(area) units."""
    unit, cx, cy = np.sqrt(width * height), width / 2, height / 2
    to_norm = np.array([[1 / unit, 0, -cx / unit], [0, 1 / unit, -cy / unit], [0, 0, 1]])
    normalised: np.ndarray = to_norm @ np.vstack([m, [0, 0, 1]]) @ np.linalg.inv(to_norm)
    return normalised


def _small_luma(frame: av.VideoFrame) -> np.ndarray:
    """The frame's brightness at ≤ ESTIMATE_WIDTH px wide: the decoder's own luma plane when it is 8-bit
    planar (no colour conversion), else a swscale conversion."""
    w = min(ESTIMATE_WIDTH, frame.width) // 2 * 2
    h = max(2, round(frame.height * w / frame.width) // 2 * 2)
    if frame.format.name in ("yuv420p", "yuvj420p", "yuv422p", "yuvj422p", "yuv444p", "yuvj444p", "nv12", "gray"):
        plane = frame.planes[0]
        luma = np.frombuffer(memoryview(plane), np.uint8).reshape(plane.height, plane.line_size)[:, : plane.width]
        return np.asarray(cv2.resize(luma, (w, h), interpolation=cv2.INTER_AREA))
    return np.asarray(frame.reformat(width=w, height=h, format="gray").to_ndarray())


def estimate_track(path: Path, *, check: Callable[[], None] | None = None,
                   on_progress: Callable[[float], None] | None = None, smooth_sigma: float = 1.0) -> CameraTrack:
    """The camera track of the video at `path`. `check` is called once per decoded frame (raise to stop);
    `on_progress` gets the fraction of the stream read (by time).

    Non-reference frames are not decoded at all (half the decoding of a typical H.264 file) and at most
    `MAX_SAMPLES_PER_S` frames per second are analysed; the samples keep their own timestamps.
    """
    times: list[float] = []
    steps: list[np.ndarray] = []
    prev: np.ndarray | None = None
    last_t = -1.0
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        stream.codec_context.skip_frame = "NONREF"
        rate = float(stream.average_rate or 24)
        if stream.duration and stream.time_base:
            total_s = float(stream.duration * stream.time_base)
        else:
            total_s = float(container.duration or 0) / av.time_base
        end_s = max(0.0, total_s - 1.0 / rate)
        t0: float | None = None
        for i, frame in enumerate(container.decode(stream)):
            if check is not None:
                check()
            t = float(frame.time if frame.time is not None else i / rate)
            t0 = t if t0 is None else t0
            if times and t - t0 - last_t < 1.0 / MAX_SAMPLES_PER_S - 1e-3:
                continue
            gray = _small_luma(frame)
            h, w = gray.shape
            if prev is not None:
                step = _step_similarity(prev, gray)
                steps.append(np.eye(3) if step is None else _normalised(step, w, h))
            last_t = t - t0
            times.append(last_t)
            prev = gray
            if on_progress is not None and total_s > 0:
                on_progress(min(1.0, last_t / total_s))
    if not times:
        return CameraTrack(np.zeros(1), np.zeros((1, 4)), 0.0)
    params = smooth_params(_chain(steps), smooth_sigma)
    track_times = np.asarray(times)
    if len(times) >= 2 and end_s > times[-1] + 1e-3:  # skipped trailing frames: carry the last velocity on
        velocity = (params[-1] - params[-2]) / max(1e-6, times[-1] - times[-2])
        params = np.vstack([params, params[-1] + velocity * (end_s - times[-1])])
        track_times = np.append(track_times, end_s)
    return CameraTrack(track_times, params, max(end_s, times[-1]))


def concat_tracks(tracks: Sequence[CameraTrack], gap_s: float = 1 / 24) -> CameraTrack:
    """One track from several, played one after another: each continues from where the previous ended."""
    tracks = [t for t in tracks if len(t.times_s)]
    if not tracks:
        return CameraTrack(np.zeros(1), np.zeros((1, 4)), 0.0)
    times, rows, offset, end = [], [], 0.0, np.eye(3)
    for k, track in enumerate(tracks):
        mats = [params_to_matrix(p) @ end for p in track.params]
        times.append(track.times_s + offset)
        rows.append(np.array([matrix_to_params(m) for m in mats]))
        offset += track.duration_s + (gap_s if k < len(tracks) - 1 else 0.0)
        end = mats[-1]
    params = np.concatenate(rows)
    params[:, 2] = np.unwrap(params[:, 2])
    return CameraTrack(np.concatenate(times), params, offset)


def gentle_params(n: int, seed: int) -> np.ndarray:
    """A slow seeded push-in or pull-out with a small drift and a hint of roll, eased: (n, 4)."""
    rng = np.random.default_rng([seed, 0x6A7])
    u = np.linspace(0.0, 1.0, max(n, 1))
    ease = u * u * (3 - 2 * u)
    # Small enough that the picture stays recognisable: ≤ 5 % zoom, ≤ 2 % drift, ≤ 0.4° roll.
    zoom = rng.uniform(0.025, 0.05) * (1 if rng.random() < 0.6 else -1)
    heading = rng.uniform(0, 2 * np.pi)
    drift = rng.uniform(0.008, 0.02)
    roll = np.deg2rad(rng.uniform(-0.4, 0.4))
    return np.stack([drift * np.cos(heading) * ease, drift * np.sin(heading) * ease, roll * ease,
                     np.log1p(zoom) * ease], axis=1)[:n]


ACCENT_LOG_SCALE = 0.015  # a beat accent: a 1.5 % push-in that eases back
ACCENT_ATTACK, ACCENT_RELEASE = 4, 10  # frames


def accent_pulses(n: int, frames: Sequence[int], amplitude: float = ACCENT_LOG_SCALE) -> np.ndarray:
    """(n,) log-scale pulses, one starting at each of `frames`: a raised-cosine rise over `ACCENT_ATTACK`
    frames, then a raised-cosine return over `ACCENT_RELEASE`, never a step. Overlapping pulses take their
    maximum, so close beats never stack into a jump; each frame-to-frame change stays under a third of
    `amplitude` (0.5 % at the default)."""
    out = np.zeros(n)
    length = ACCENT_ATTACK + ACCENT_RELEASE + 1
    r = np.arange(length)
    rise = 0.5 - 0.5 * np.cos(np.pi * np.minimum(1.0, (r + 1) / (ACCENT_ATTACK + 1)))
    fall = 0.5 + 0.5 * np.cos(np.pi * np.clip((r - ACCENT_ATTACK) / ACCENT_RELEASE, 0.0, 1.0))
    shape = amplitude * np.where(r <= ACCENT_ATTACK, rise, fall)
    for f in frames:
        if 0 <= f < n:
            end = min(n, f + length)
            out[f:end] = np.maximum(out[f:end], shape[: end - f])
    return out


def relative_params(params: np.ndarray, start: int) -> np.ndarray:
    """Rows re-based so that row `start` is the identity: the motion since `start`."""
    inv = np.linalg.inv(params_to_matrix(params[start]))
    out = np.array([matrix_to_params(params_to_matrix(p) @ inv) for p in params])
    out[:, 2] = np.unwrap(out[:, 2])
    return out
