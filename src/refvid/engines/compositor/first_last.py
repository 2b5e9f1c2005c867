"""Image-to-video on the compositor: the camera travels from the first frame (`image_url`) to the last
(`end_image_url`), steered by the prompt's camera words.

Both pictures are fitted to the output exactly as footage is (`framing.fit_frame`: centre cover crop, or a
blur fill for extreme shapes). The camera track comes from the words (`prompt_reader` + `moves.word_move`),
else the gentle seeded move (`moves.default_move`). The first picture is seen through the track as it leaves
its start, the last one through the same track shifted to arrive at rest on it, and an eased crossfade
hands one to the other, so output frame 0 is the first picture and (with an end frame) the last output frame
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
from refvid.engines.compositor.moves import PACE_FACTORS, default_move, progress_curve, word_move
from refvid.engines.compositor.prompt_reader import read_prompt
from refvid.errors import TaskFailure
from refvid.media.encode import EncoderSettings


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
    blend = progress_curve(n)  # eased 0 → 1: the crossfade from the first picture to the last

    def frame_at(i: int) -> np.ndarray:
        leaving = _warp(first, track[i])
        if last is None or blend[i] <= 0.0:
            return leaving
        arriving = _warp(last, track[i] - track[-1])
        if blend[i] >= 1.0:
            return arriving
        return np.asarray(cv2.addWeighted(leaving, 1.0 - float(blend[i]), arriving, float(blend[i]), 0.0))

    extra = {"mode": "image", "frames": ["image_url"] + (["end_image_url"] if last is not None else []),
             "motion": "words" if directions.camera.moves else "seeded",
             "camera": sorted(directions.camera.moves), "speed": directions.camera.speed}
    return write_clip(job, frame_at, encoder, check, report, extra)
