"""What a viewer sees in decoded frames, measured without the compositor's code: whether the words of a title
card are on screen (the text's mask against the bundled font's own rendering of the words: no OCR), and which
of two pictures a frame shows (a blurred, downscaled distance, so a gentle camera move still reads as the same
picture while a dissolve does not)."""

from __future__ import annotations

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

TEXT_LUMA_MIN = 215  # the title's white; the card's backdrop and its dimmed caption stay well below


def _ink_box(mask: np.ndarray) -> np.ndarray:
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if not len(rows):
        return np.zeros((1, 1), np.float32)
    return mask[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1].astype(np.float32)


def font_raster(text: str, size: int = 96) -> np.ndarray:
    """The words as Pillow's bundled font draws them on one line: a tight binary mask."""
    font = ImageFont.load_default(size=size)
    left, top, right, bottom = (round(v) for v in font.getbbox(text))
    canvas = Image.new("L", (right - left + 8, bottom - top + 8), 0)
    ImageDraw.Draw(canvas).text((4 - left, 4 - top), text, fill=255, font=font)
    return _ink_box(np.asarray(canvas) > 127)


def text_likeness(rgb: np.ndarray, text: str, upper_share: float = 0.8) -> float:
    """Correlation (−1…1) between the near-white ink in the frame's upper `upper_share` (the title, not the
    caption at the bottom) and `text` set on one line in the bundled font, scaled onto the ink's box."""
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)[: round(rgb.shape[0] * upper_share)]
    seen = _ink_box(gray >= TEXT_LUMA_MIN)
    want = cv2.resize(font_raster(text), (seen.shape[1], seen.shape[0]), interpolation=cv2.INTER_AREA)
    if seen.size < 50 or seen.std() == 0:
        return 0.0
    return float(np.corrcoef(seen.ravel(), want.ravel())[0, 1])


def _coarse(rgb: np.ndarray) -> np.ndarray:
    small = cv2.resize(rgb, (rgb.shape[1] // 16, rgb.shape[0] // 16), interpolation=cv2.INTER_AREA)
    return cv2.GaussianBlur(small.astype(np.float32), (0, 0), 1.0)


def picture_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute difference of the two frames seen coarsely (1/16 size, blurred)."""
    return float(np.abs(_coarse(a) - _coarse(b)).mean())
