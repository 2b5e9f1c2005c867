"""Shot renderers: each draws frame i of its span straight into an I420 output buffer.

`ImageShot` is a still picture under a virtual camera: its canvas is prepared once (decoded at reduced
size, fitted, supersampled as far as the camera zooms in, converted to I420) and each frame is one warp.
`FootageShot` plays a reference video, time-mapped, fitted to the frame, with an optional slow zoom; it
decodes streaming, so memory does not depend on the video's length.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import av
import cv2
import numpy as np

from refvid.engines.compositor.camera import DEFAULT_MAX_ZOOM, plan_shot_camera
from refvid.engines.compositor.framing import (
    MAX_SUPERSAMPLE,
    Planes,
    blur_fill,
    choose_fit,
    contain_scale,
    cover_scale,
    load_image,
    split_i420,
    subject_window_centre,
    warp_planes,
)
from refvid.engines.compositor.timeline import Span

PlaneViews = tuple[np.ndarray, np.ndarray, np.ndarray]


class ShotRenderer(Protocol):
    span: Span

    def render(self, index: int, dst: PlaneViews) -> None:
        """Draw output frame `index` (within `span`) into the (y, u, v) planes `dst`."""
        ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class ShotReport:
    """What a shot showed, for `EngineOutput.extra`: `scale` is output pixels per reference pixel."""

    source: str
    kind: str
    span: Span
    fit: str
    scale: tuple[float, float]
    damping: float = 1.0

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "kind": self.kind, "start_frame": self.span.start,
                "end_frame": self.span.end, "fit": self.fit,
                "scale": [round(self.scale[0], 5), round(self.scale[1], 5)], "motion_damping": self.damping}


class ImageShot:
    """A still under a camera move: frame i = one warp of the prepared canvas."""

    def __init__(self, canvas: Planes, matrices: np.ndarray, span: Span):
        self.canvas, self.matrices, self.span = canvas, matrices, span

    def render(self, index: int, dst: PlaneViews) -> None:
        warp_planes(self.canvas, self.matrices[index - self.span.start], dst)

    def close(self) -> None:
        pass


def prepare_image_shot(path: Path, label: str, span: Span, rel: np.ndarray, out_w: int, out_h: int,
                       max_zoom: float = DEFAULT_MAX_ZOOM) -> tuple[ImageShot, ShotReport]:
    """Load and fit the image, plan the camera over it (`rel`: the shot's relative track, one row per frame
    of the span) and build its canvas."""
    rgb, loaded_scale = load_image(path, out_w, out_h)
    h, w = rgb.shape[:2]
    fit = choose_fit(w, h, out_w, out_h)
    if fit == "cover":
        view_scale = cover_scale(w, h, out_w, out_h)  # view pixels per loaded pixel
        view_w, view_h = w * view_scale, h * view_scale
        sx, sy = subject_window_centre(rgb, out_w / view_scale, out_h / view_scale)
        subject = (sx * view_scale, sy * view_scale)
    else:
        view_scale = contain_scale(w, h, out_w, out_h)
        view_w, view_h, subject = float(out_w), float(out_h), (out_w / 2, out_h / 2)
    camera = plan_shot_camera(rel, view_w, view_h, out_w, out_h, subject, max_zoom)
    zoom = camera.zoom
    # Supersample as far as the camera zooms in, but never beyond the loaded pixels.
    k = float(np.clip(zoom.max(), 1.0, min(MAX_SUPERSAMPLE, max(1.0, 1.0 / view_scale))))
    if fit == "cover":
        cw, ch = max(2, round(view_w * k / 2) * 2), max(2, round(view_h * k / 2) * 2)
        canvas_rgb = cv2.resize(rgb, (cw, ch), interpolation=cv2.INTER_AREA if cw < w else cv2.INTER_LINEAR)
        k = cw / view_w
    else:
        cw, ch = round(out_w * k / 2) * 2, round(out_h * k / 2) * 2
        canvas_rgb = blur_fill(rgb, cw, ch)
        k = cw / out_w
    del rgb
    shot = ImageShot(Planes.from_rgb(canvas_rgb), camera.matrices(k), span)
    to_source = view_scale * loaded_scale  # output pixels per original pixel at zoom 1
    report = ShotReport(label, "image", span, fit, (float(zoom.min()) * to_source, float(zoom.max()) * to_source),
                        camera.damping)
    return shot, report


class FootageShot:
    """A reference video as a shot: output frame i shows the video at `times_s[i - start]`, fitted."""

    def __init__(self, path: Path, span: Span, times_s: np.ndarray, zoom: np.ndarray, out_w: int, out_h: int):
        self.span, self.times_s, self.zoom = span, times_s, zoom
        self.out_w, self.out_h = out_w, out_h
        self._container: Any = av.open(str(path))
        stream = self._container.streams.video[0]
        stream.thread_type = "AUTO"
        self._frames = self._container.decode(stream)
        self._current: Any = None
        self._next: Any = next(self._frames, None)
        self._rgb: np.ndarray | None = None

    def _frame_at(self, t: float) -> Any:
        while self._next is not None and (self._current is None or (self._next.time or 0.0) <= t + 1e-6):
            self._current, self._next, self._rgb = self._next, next(self._frames, None), None
        return self._current

    def render(self, index: int, dst: PlaneViews) -> None:
        frame = self._frame_at(float(self.times_s[index - self.span.start]))
        if frame is None:
            for plane, value in zip(dst, (16, 128, 128), strict=True):
                plane[...] = value
            return
        w, h = frame.width, frame.height
        if choose_fit(w, h, self.out_w, self.out_h) == "blur_fill":
            rgb = blur_fill(frame.to_ndarray(format="rgb24"), self.out_w, self.out_h)
        else:
            zoom = float(self.zoom[index - self.span.start])
            scale = cover_scale(w, h, self.out_w, self.out_h) * zoom
            if self._rgb is None:  # decode once per video frame, at about the size it is shown
                dw, dh = (max(2, round(w * scale / 2) * 2), max(2, round(h * scale / 2) * 2)) if scale < 1 else (w, h)
                self._rgb = frame.to_ndarray(format="rgb24", width=dw, height=dh)
            src = self._rgb
            s = scale * w / src.shape[1]
            m = np.array([[s, 0.0, self.out_w / 2 - s * src.shape[1] / 2],
                          [0.0, s, self.out_h / 2 - s * src.shape[0] / 2]])
            m[:, 2] += (s - 1) / 2  # pixel centres
            rgb = cv2.warpAffine(src, m, (self.out_w, self.out_h), flags=cv2.INTER_LINEAR,
                                 borderMode=cv2.BORDER_REPLICATE)
        i420 = cv2.cvtColor(rgb, cv2.COLOR_RGB2YUV_I420)
        for plane, src in zip(dst, split_i420(i420, self.out_w, self.out_h), strict=True):
            plane[...] = src

    def close(self) -> None:
        self._container.close()
