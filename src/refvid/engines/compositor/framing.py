"""Fitting pictures into the output frame without distortion, and warping them cheaply per frame.

An image whose aspect is close to the output's is *covered* (scaled to fill, the excess cropped around its
subject: the window with the most saliency, with a pull towards the centre). One far from it (a portrait
photo in a 21:9 frame) is *blur-filled*: shown whole, over a blurred, darkened enlargement of itself.

Pictures are kept as I420 planes (`Planes`) so that a frame costs one warp of the luma plane plus two
quarter-size chroma warps and no colour conversion.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import cv2
import numpy as np
from PIL import Image, ImageOps

FitMode = Literal["cover", "blur_fill"]
MIN_COVER_FRACTION = 0.7  # cover when at least this share of the image's long axis stays visible
MAX_SUPERSAMPLE = 2.0
SALIENCY_SIDE = 128  # pixels along the long side of the picture the saliency is computed on


def choose_fit(src_w: int, src_h: int, out_w: int, out_h: int) -> FitMode:
    """`cover` when cropping to the output ratio keeps ≥ 70 % of the image, else `blur_fill`."""
    a, b = src_w / src_h, out_w / out_h
    return "cover" if min(a, b) / max(a, b) >= MIN_COVER_FRACTION else "blur_fill"


def cover_scale(src_w: int, src_h: int, out_w: int, out_h: int) -> float:
    """Scale at which a src_w×src_h picture just covers out_w×out_h."""
    return max(out_w / src_w, out_h / src_h)


def contain_scale(src_w: int, src_h: int, out_w: int, out_h: int) -> float:
    """Scale at which a src_w×src_h picture just fits inside out_w×out_h."""
    return min(out_w / src_w, out_h / src_h)


def load_image(path: Path, out_w: int, out_h: int, supersample: float = MAX_SUPERSAMPLE) -> tuple[np.ndarray, float]:
    """Decode an image as HxWx3 uint8 RGB, EXIF-rotated, no larger than `supersample` × what covering the
    output needs (JPEGs are decoded at reduced scale directly, so a 6000 px photo never exists in full).
    Returns the pixels and their scale relative to the original (upright) image."""
    with Image.open(path) as file:
        w, h = file.size
        original_long = max(w, h)
        # Either orientation (EXIF may turn it): decode at least what covering the output would need.
        keep = min(1.0, supersample * max(cover_scale(w, h, out_w, out_h), cover_scale(h, w, out_w, out_h)))
        file.draft("RGB", (max(1, math.ceil(w * keep)), max(1, math.ceil(h * keep))))
        img: Image.Image = ImageOps.exif_transpose(file)
        if img.mode in ("RGBA", "LA", "P", "PA"):
            img = img.convert("RGBA")
            backdrop = Image.new("RGBA", img.size, (128, 128, 128, 255))
            img = Image.alpha_composite(backdrop, img)
        rgb = np.asarray(img.convert("RGB"))
    h, w = rgb.shape[:2]
    scale = min(1.0, supersample * cover_scale(w, h, out_w, out_h))
    if scale < 1.0:
        rgb = cv2.resize(rgb, (max(2, round(w * scale)), max(2, round(h * scale))), interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(rgb), max(rgb.shape[:2]) / original_long


def saliency_map(rgb: np.ndarray, long_side: int = SALIENCY_SIDE) -> np.ndarray:
    """Where the eye goes, at `long_side` pixels: spectral residual saliency (Hou & Zhang, CVPR 2007) of the
    luma and both colour-opponent channels. What repeats (foliage, gravel, a sky's noise) is predictable from
    the average spectrum and scores low; an object that differs from its surroundings (a red car on a grey road)
    scores high. Plain edge energy would pick the busiest texture instead."""
    h, w = rgb.shape[:2]
    scale = long_side / max(w, h)
    small = cv2.resize(rgb, (max(8, round(w * scale)), max(8, round(h * scale))),
                       interpolation=cv2.INTER_AREA).astype(np.float32)
    r, g, b = small[..., 0], small[..., 1], small[..., 2]
    total = np.zeros(small.shape[:2], np.float32)
    for channel in ((r + g + b) / 3, r - g, (r + g) / 2 - b):
        spectrum = np.fft.fft2(channel)
        log_amplitude = np.log(np.abs(spectrum) + 1e-6).astype(np.float32)
        residual = log_amplitude - cv2.blur(log_amplitude, (3, 3), borderType=cv2.BORDER_REPLICATE)
        total += (np.abs(np.fft.ifft2(np.exp(residual + 1j * np.angle(spectrum)))) ** 2).astype(np.float32)
    return np.asarray(cv2.GaussianBlur(total, (0, 0), long_side / 40))


def subject_window_centre(rgb: np.ndarray, win_w: float, win_h: float) -> tuple[float, float]:
    """Centre (pixels of `rgb`) of the win_w×win_h window holding the most saliency (`saliency_map`), pulled a
    little to the middle."""
    h, w = rgb.shape[:2]
    energy = saliency_map(rgb)
    centre = []
    for axis, size, win in ((1, w, win_w), (0, h, win_h)):
        profile = energy.sum(axis=1 - axis)
        n = len(profile)
        small = n / size
        span = max(1, min(n, round(win * small)))
        sums = np.convolve(profile, np.ones(span), mode="valid")  # one value per window position
        offsets = np.arange(len(sums)) + span / 2
        pull = 1.0 - 0.3 * np.abs(offsets - n / 2) / max(1.0, n / 2)
        best = float(offsets[int(np.argmax(sums * pull))]) / small if len(sums) > 1 else size / 2
        centre.append(min(max(best, win / 2), size - win / 2) if size > win else size / 2)
    return centre[0], centre[1]


def blur_fill(rgb: np.ndarray, out_w: int, out_h: int) -> np.ndarray:
    """The whole picture centred in out_w×out_h over a blurred, darkened cover-fit copy of itself."""
    h, w = rgb.shape[:2]
    tiny_scale = cover_scale(w, h, out_w, out_h) / 16
    tiny = cv2.resize(rgb, (max(2, round(w * tiny_scale)), max(2, round(h * tiny_scale))),
                      interpolation=cv2.INTER_AREA)
    tiny = cv2.GaussianBlur(tiny, (0, 0), 2.0)
    big = cv2.resize(tiny, None, fx=16, fy=16, interpolation=cv2.INTER_LINEAR)
    bh, bw = big.shape[:2]
    x0, y0 = max(0, (bw - out_w) // 2), max(0, (bh - out_h) // 2)
    canvas = cv2.resize(big[y0:y0 + out_h, x0:x0 + out_w], (out_w, out_h))
    canvas = (canvas.astype(np.uint16) * 3 // 5).astype(np.uint8)
    s = contain_scale(w, h, out_w, out_h)
    fw, fh = min(out_w, round(w * s)), min(out_h, round(h * s))
    fg = cv2.resize(rgb, (fw, fh), interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)
    x, y = (out_w - fw) // 2, (out_h - fh) // 2
    canvas[y:y + fh, x:x + fw] = fg
    return canvas


def fit_frame(rgb: np.ndarray, out_w: int, out_h: int) -> np.ndarray:
    """`rgb` fitted to exactly out_w×out_h: a cover crop around its subject (`subject_window_centre`, as image
    shots frame it), or a blur fill. Image-to-video's first and last frames."""
    h, w = rgb.shape[:2]
    if choose_fit(w, h, out_w, out_h) == "blur_fill":
        return blur_fill(rgb, out_w, out_h)
    s = cover_scale(w, h, out_w, out_h)
    cw, ch = min(w, out_w / s), min(h, out_h / s)
    sx, sy = subject_window_centre(rgb, cw, ch)
    x0, y0 = min(max(0.0, sx - cw / 2), w - cw), min(max(0.0, sy - ch / 2), h - ch)
    m = np.array([[s, 0, -x0 * s], [0, s, -y0 * s]], np.float64)
    interp = cv2.INTER_AREA if s < 0.5 else cv2.INTER_LINEAR
    if interp == cv2.INTER_AREA:
        crop = rgb[int(y0):math.ceil(y0 + ch), int(x0):math.ceil(x0 + cw)]
        return np.asarray(cv2.resize(crop, (out_w, out_h), interpolation=cv2.INTER_AREA))
    return np.asarray(cv2.warpAffine(rgb, m, (out_w, out_h), flags=interp, borderMode=cv2.BORDER_REPLICATE))


@dataclass(frozen=True)
class Planes:
    """An even-sized picture as I420 planes: y (H×W), u and v (H/2×W/2), BT.601 limited range."""

    y: np.ndarray
    u: np.ndarray
    v: np.ndarray

    @classmethod
    def from_rgb(cls, rgb: np.ndarray) -> Planes:
        h, w = rgb.shape[0] // 2 * 2, rgb.shape[1] // 2 * 2
        i420 = cv2.cvtColor(np.ascontiguousarray(rgb[:h, :w]), cv2.COLOR_RGB2YUV_I420)
        y, u, v = split_i420(i420, w, h)
        return cls(y.copy(), u.copy(), v.copy())

    @property
    def width(self) -> int:
        return int(self.y.shape[1])

    @property
    def height(self) -> int:
        return int(self.y.shape[0])


def split_i420(i420: np.ndarray, width: int, height: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Views of the y, u and v planes inside one (H*3/2)×W I420 buffer (writable if the buffer is)."""
    quarter = (width // 2) * (height // 2)
    flat = i420.reshape(-1)
    y = flat[: width * height].reshape(height, width)
    u = flat[width * height: width * height + quarter].reshape(height // 2, width // 2)
    v = flat[width * height + quarter: width * height + 2 * quarter].reshape(height // 2, width // 2)
    return y, u, v


def warp_planes(src: Planes, matrix: np.ndarray, dst: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
    """Render `src` through the 2×3 affine `matrix` (source pixels → output pixels) into the (y, u, v)
    planes `dst`, in place. Chroma samples sit at the centre of each 2×2 luma block."""
    y, u, v = dst
    height, width = y.shape
    flags, border = cv2.INTER_LINEAR, cv2.BORDER_REPLICATE
    cv2.warpAffine(src.y, matrix, (width, height), dst=y, flags=flags, borderMode=border)
    # Chroma pixel c sits at luma 2c + 0.5, so in chroma units the offset becomes (A·½ + b − ½) / 2.
    a, b = matrix[:, :2], matrix[:, 2]
    chroma = np.hstack([a, ((a @ np.array([0.5, 0.5]) + b - 0.5) / 2)[:, None]])
    cv2.warpAffine(src.u, chroma, (width // 2, height // 2), dst=u, flags=flags, borderMode=border)
    cv2.warpAffine(src.v, chroma, (width // 2, height // 2), dst=v, flags=flags, borderMode=border)
