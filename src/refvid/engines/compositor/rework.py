"""Edit and extend (`omni_reference_task_type`, Seedance 2.5): the compositor reworking one reference video,
the first one the prompt mentions (else @Video1). Like the rest of the compositor, neither invents pixels.

- extend: the output begins on the video's last frame and carries its camera on. The camera motion over the
  video's last second is measured (`motion.estimate_track`: feature tracking, a similarity per step) as a
  rate of pan, tilt, roll and zoom, and that rate is replayed over the last frame for the requested
  duration: frame i shows the last frame moved by rate × i/fps, so frame 0 is the last frame itself. The
  picture is pushed in just enough, and only as the move needs it, that its edges never show; a move that
  would need more than `MAX_ZOOM` over the duration eases out instead (it starts at the measured speed and
  slows down, all components together) so that it fits. No regrade: the seam
  with the reference stays invisible. Sound: the reference audio, else a seeded ambience.
- edit: the output keeps the video's timing: frame i shows the video's frame on screen at i/fps (any source
  frame rate), for the video's length (`duration: -1`: its whole seconds). The prompt reframes it (its
  camera words for the whole clip or for that video: a push-in, a pan, as `moves.word_move` makes them, over
  the footage) and regrades it (its look words: `grade.Grade`). Sound: the reference audio, else the video's
  own, else a seeded ambience.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np

from refvid.contract import EDIT_MIN_SOURCE_S
from refvid.engines.base import EngineInput, EngineOutput
from refvid.engines.compositor.camera import inverse_corner_spans
from refvid.engines.compositor.clip import write_clip
from refvid.engines.compositor.grade import Grade
from refvid.engines.compositor.motion import CameraTrack, estimate_track, matrix_to_params, params_to_matrix
from refvid.engines.compositor.moves import word_move
from refvid.engines.compositor.prompt_reader import read_prompt
from refvid.engines.output import reworked_video
from refvid.errors import TaskFailure
from refvid.media.conform import fit
from refvid.media.encode import EncoderSettings
from refvid.media.info import Reference
from refvid.media.prompt_refs import mention_order
from refvid.media.soundtrack import build_soundtrack

TAIL_S = 1.0  # the stretch at the end of the video whose camera motion extend carries on
MAX_ZOOM = 1.8  # the most extend or edit pushes in to keep the picture's edges out of frame
_EASE_S = (8.0, 4.0, 2.0, 1.0, 0.5, 0.25, 0.1)  # how soon a move too long to carry on slows down
MADE = {"edit": "your video re-graded and re-framed by the prompt, with its own timing; no new pixels",
        "extend": "your video's last frame carried on along its camera path; no new pixels"}


def edited_video(job: EngineInput) -> Reference:
    """The video an edit or extend works on (`engines.output.reworked_video`, as the worker sized the output)."""
    video = reworked_video(job.prompt, job.references)
    if video is None:
        raise TaskFailure("edit and extend need a video reference", code="reference_invalid")
    return video


def tail_rate(track: CameraTrack, tail_s: float = TAIL_S) -> np.ndarray:
    """The camera's content motion per second over the track's last `tail_s`: (tx, ty, angle, log_scale)."""
    end = track.duration_s
    if len(track.times_s) < 2 or end <= 0:
        return np.zeros(4)
    start = max(0.0, end - tail_s)
    at = [np.array([np.interp(t, track.times_s, track.params[:, k]) for k in range(4)]) for t in (start, end)]
    step = params_to_matrix(at[1]) @ np.linalg.inv(params_to_matrix(at[0]))
    rate: np.ndarray = matrix_to_params(step) / max(end - start, 1e-6)
    return rate


def kept_inside(rows: np.ndarray, width: int, height: int) -> np.ndarray:
    """`rows` with the least push-in (never decreasing, none while the camera rests) that keeps the moved
    picture covering the whole frame."""
    xs, ys = inverse_corner_spans(rows, width, height)
    reach = np.maximum(np.abs(xs.reshape(-1, 4)).max(axis=1) / (width / 2),
                       np.abs(ys.reshape(-1, 4)).max(axis=1) / (height / 2))
    out = rows.copy()
    out[:, 3] += np.log(np.maximum.accumulate(np.maximum(1.0, reach * 1.001)))
    return out


def continued_path(rate: np.ndarray, n: int, fps: int, width: int, height: int) -> tuple[np.ndarray, float | None]:
    """(rows, ease_s): `rate` carried on for n frames from the identity. When carrying it on at full speed
    would need more than `MAX_ZOOM`, it eases out instead: travel rate·τ·(1 − e^(−t/τ)) starts at exactly
    `rate` (no jolt at the seam) and slows, with the longest τ (`ease_s`) that fits."""
    t = np.arange(n, dtype=np.float64) / fps
    rows, ease_s = kept_inside(rate[None, :] * t[:, None], width, height), None
    for tau in _EASE_S:
        if float(np.exp(rows[:, 3] - rate[3] * (t if ease_s is None else _eased(t, ease_s))).max()) <= MAX_ZOOM:
            break
        ease_s = tau
        rows = kept_inside(rate[None, :] * _eased(t, tau)[:, None], width, height)
    return rows, ease_s


def _eased(t: np.ndarray, tau: float) -> np.ndarray:
    eased: np.ndarray = tau * (1.0 - np.exp(-t / tau))
    return eased


def affine(row: np.ndarray, width: int, height: int) -> np.ndarray:
    """The 2×3 pixel affine of a track row (motion.py's convention: about the frame centre, translation in
    units of √(frame area)), with output pixel centres at j + ½."""
    unit, centre = float(np.sqrt(width * height)), np.array([width / 2, height / 2])
    m = params_to_matrix(row)
    a, t = m[:2, :2], m[:2, 2] * unit
    b = centre - a @ centre + t + a @ np.array([0.5, 0.5]) - 0.5
    return np.hstack([a, b[:, None]])


def _moved(rgb: np.ndarray, row: np.ndarray) -> np.ndarray:
    if not np.any(row):
        return rgb
    h, w = rgb.shape[:2]
    return np.asarray(cv2.warpAffine(rgb, affine(row, w, h), (w, h), flags=cv2.INTER_LINEAR,
                                     borderMode=cv2.BORDER_REPLICATE))


class FootageClock:
    """A video decoded forwards: `at(t)` is its frame on screen at t seconds (the last to start at or before t;
    the last frame after the end), fitted to the output (scaled to cover, centre-cropped)."""

    def __init__(self, path: Path, width: int, height: int):
        self._container: Any = av.open(str(path))
        stream = self._container.streams.video[0]
        stream.thread_type = "AUTO"
        self._frames = self._container.decode(stream)
        self._size, self._current, self._fitted = (width, height), None, None
        self._next: Any = next(self._frames, None)
        self._start = float(self._next.time or 0.0) if self._next is not None else 0.0

    def at(self, t: float) -> np.ndarray:
        while self._next is not None and (self._current is None
                                          or float(self._next.time or 0.0) - self._start <= t + 1e-6):
            self._current, self._next, self._fitted = self._next, next(self._frames, None), None
        if self._current is None:
            raise TaskFailure("the video to rework has no frames", code="reference_invalid")
        if self._fitted is None:
            self._fitted = fit(self._current.to_ndarray(format="rgb24"), *self._size)
        return self._fitted

    def close(self) -> None:
        self._container.close()


def last_frame(path: Path, width: int, height: int) -> np.ndarray:
    """The video's last frame, fitted like `FootageClock`'s."""
    clock = FootageClock(path, width, height)
    try:
        return clock.at(float("inf"))
    finally:
        clock.close()


def _soundtrack(job: EngineInput, video: Reference | None, check: Callable[[], None]) -> np.ndarray | None:
    """The reference audio in mention order, else the video's own sound (edit), else None (an ambience)."""
    out = job.output
    if not out.generate_audio:
        return None
    if job.audios:
        order = mention_order(job.prompt, "audio", len(job.audios))
        return build_soundtrack([job.audios[i].path for i in order], out.duration_s, check=check)
    if video is not None and video.info.has_audio:
        return build_soundtrack([video.path], out.duration_s, check=check)
    return None


def render_extend(job: EngineInput, encoder: EncoderSettings, check: Callable[[], None],
                  report: Callable[[float], None]) -> EngineOutput:
    """`omni_reference_task_type: extend` (see the module docstring)."""
    out, video = job.output, edited_video(job)
    track = estimate_track(video.path, check=check, on_progress=lambda f: report(0.2 * f))
    rate = tail_rate(track)
    rows, ease_s = continued_path(rate, out.frames, out.fps, out.width, out.height)
    start = last_frame(video.path, out.width, out.height)
    extra = {"task_type": "extend", "source": video.label, "rate_per_s": [round(float(v), 5) for v in rate],
             "ease_s": ease_s, "made": MADE["extend"], "placeholder": False}
    return write_clip(job, lambda i: _moved(start, rows[i]), encoder, check, lambda f: report(0.2 + 0.8 * f),
                      extra, soundtrack=_soundtrack(job, None, check))


def render_edit(job: EngineInput, encoder: EncoderSettings, check: Callable[[], None],
                report: Callable[[float], None]) -> EngineOutput:
    """`omni_reference_task_type: edit` (see the module docstring)."""
    out, video = job.output, edited_video(job)
    if video.info.duration_s < EDIT_MIN_SOURCE_S - 0.05:
        raise TaskFailure(f"video_urls[{video.index}]: an edit needs a video of at least {EDIT_MIN_SOURCE_S:g} s "
                          f"(got {video.info.duration_s:.2f} s)", code="reference_invalid")
    directions = read_prompt(job.prompt)
    key = ("video", video.index)
    words = directions.camera_for(key)
    rows = np.zeros((out.frames, 4))
    if words.moves:
        rows = kept_inside(word_move(words, out.frames, out.fps, out.seed, directions.variation, directions.pace),
                           out.width, out.height)
    looks = directions.looks_for(key)
    grade = Grade(looks, out.width, out.height, out.seed, directions.variation)
    clock = FootageClock(video.path, out.width, out.height)
    extra = {"task_type": "edit", "source": video.label, "camera": sorted(words.moves), "looks": sorted(looks),
             "made": MADE["edit"], "placeholder": False}
    try:
        return write_clip(job, lambda i: _moved(clock.at(i / out.fps), rows[i]), encoder, check, report, extra,
                          grade, soundtrack=_soundtrack(job, video, check))
    finally:
        clock.close()
