"""Image-to-video on the compositor: a shot of the first frame (`image_url`) under a camera move, then a short
eased transition to the last frame (`end_image_url`), steered by the prompt's camera words.

Both pictures are fitted to the output (`framing.fit_frame`: a cover crop around the subject, or a blur fill
for extreme shapes). The camera track comes from the words (`prompt_reader` + `moves.word_move`), else the
gentle seeded move (`moves.default_move`). The first picture holds the screen for most of the clip as the
camera moves over it; in its last `TAIL_S` the clip is on the last picture, seen through the same track
shifted to arrive at rest on it, reached by a `DISSOLVE_S` eased dissolve (a match cut when the prompt asks for
hard cuts). Never a whole-clip double exposure: output frame 0 is the first picture and the last output frame
is the last picture. Without an end frame the camera simply performs its move over the first picture.
No grade is applied: the ends must stay the client's own pictures. It invents no pixels.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageOps

from refvid.engines.base import EngineInput, EngineOutput
from refvid.engines.compositor.clip import write_clip
from refvid.engines.compositor.framing import fit_frame
from refvid.engines.compositor.moves import PACE_FACTORS, default_move, word_move
from refvid.engines.compositor.prompt_reader import read_prompt
from refvid.errors import TaskFailure
from refvid.media.encode import EncoderSettings

TAIL_S = 0.5  # the clip ends on the last picture for this long
DISSOLVE_S = 0.4  # the eased dissolve into it (≤ 0.5 s: a transition, not a double exposure)


def load_rgb(path: Path) -> np.ndarray:
    """The picture as H×W×3 uint8 RGB, upright (EXIF orientation applied)."""
    with Image.open(path) as image:
        return np.asarray(ImageOps.exif_transpose(image).convert("RGB"))


def camera_matrix(row: np.ndarray, width: int, height: int) -> np.ndarray:
    """The 2×3 affine of one track row `(tx, ty, angle_rad, log_scale)` about the frame centre; translation is
    in units of √(frame area), as `moves.py` defines it."""
    tx, ty, angle, log_scale = (float(v) for v in row)
    matrix = np.array(cv2.getRotationMatrix2D((width / 2, height / 2), float(np.rad2deg(angle)),
                                              float(np.exp(log_scale))), np.float64)
    unit = float(np.sqrt(width * height))
    matrix[:, 2] += np.array([tx * unit, ty * unit])
    return matrix


def _warp(rgb: np.ndarray, row: np.ndarray) -> np.ndarray:
    if not np.any(row):
        return rgb  # at rest: exactly the fitted picture
    h, w = rgb.shape[:2]
    return np.asarray(cv2.warpAffine(rgb, camera_matrix(row, w, h), (w, h), flags=cv2.INTER_LINEAR,
                                     borderMode=cv2.BORDER_REFLECT101))


def _transition(n: int, fps: int, hard: bool) -> np.ndarray:
    """(n,) share of the last picture per frame: 0 while the first picture holds, an eased (smoothstep)
    dissolve of `DISSOLVE_S` (none for a match cut), then 1 for the last `TAIL_S`; never more than the last
    third of a short clip."""
    tail = min(round(TAIL_S * fps), n // 6)
    dissolve = 0 if hard else min(round(DISSOLVE_S * fps), n // 6)
    blend = np.zeros(n)
    if n < 2:
        return blend
    tail = max(1, tail)
    u = (np.arange(dissolve) + 1) / (dissolve + 1)
    start = n - tail - dissolve
    blend[start:n - tail] = u * u * (3 - 2 * u)
    blend[n - tail:] = 1.0
    return blend


def render_first_last(job: EngineInput, encoder: EncoderSettings, check: Callable[[], None],
                      report: Callable[[float], None]) -> EngineOutput:
    """The image-to-video clip for `job` (images[0] = first frame, images[1] = optional last frame)."""
    out = job.output
    frames = sorted(job.images, key=lambda ref: ref.index)
    if not frames:
        raise TaskFailure("image-to-video needs the first frame (image_url)", code="reference_invalid")
    first = fit_frame(load_rgb(frames[0].path), out.width, out.height)
    last = fit_frame(load_rgb(frames[1].path), out.width, out.height) if len(frames) > 1 else None
    directions = read_prompt(job.prompt)
    n = out.frames
    if directions.camera.moves:
        track = word_move(directions.camera, n, out.fps, out.seed, directions.variation, directions.pace)
    else:
        track = default_move(n, out.fps, out.seed, directions.variation, PACE_FACTORS[directions.pace])
    blend = _transition(n, out.fps, hard=directions.transition == "hard")

    def frame_at(i: int) -> np.ndarray:
        leaving = _warp(first, track[i])
        if last is None or blend[i] <= 0.0:
            return leaving
        arriving = _warp(last, track[i] - track[-1])
        if blend[i] >= 1.0:
            return arriving
        return np.asarray(cv2.addWeighted(leaving, 1.0 - float(blend[i]), arriving, float(blend[i]), 0.0))

    extra = {"mode": "image", "frames": ["image_url"] + (["end_image_url"] if last is not None else []),
             "transition": None if last is None else ("cut" if directions.transition == "hard" else "dissolve"),
             "transition_frames": None if last is None else [int(np.argmax(blend > 0)), int(np.argmax(blend >= 1))],
             "motion": "words" if directions.camera.moves else "seeded",
             "camera": sorted(directions.camera.moves), "speed": directions.camera.speed}
    return write_clip(job, frame_at, encoder, check, report, extra)
