"""Replaying a camera track over a still picture without ever showing past its edges.

A shot shows a picture fitted to the output (its *view*: view pixels are output pixels at zoom 1). The
virtual camera applies the shot's relative track to the content about the frame centre. Before that, the
view is zoomed by the least `base_zoom` that keeps all four frame corners inside the picture for the whole
shot, and its start point is moved as close to the subject as that allows. A move too large for
`max_zoom` is damped (all components scaled down together, which keeps its shape) until it fits.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

DEFAULT_MAX_ZOOM = 1.6
_DAMPING_STEPS = (1.0, 0.85, 0.7, 0.55, 0.4, 0.25, 0.1, 0.0)


@dataclass(frozen=True)
class ShotCamera:
    """A planned move: the (possibly damped) relative track, the base zoom and the view start point."""

    rel: np.ndarray  # (n, 4) as replayed, after damping
    base_zoom: float
    origin: tuple[float, float]  # view point at the frame centre on the first frame
    damping: float  # 1.0 = the move as given
    out_size: tuple[int, int]

    @property
    def zoom(self) -> np.ndarray:
        """(n,) zoom relative to the fitted view: base zoom × the track's own scale."""
        zoom: np.ndarray = self.base_zoom * np.exp(self.rel[:, 3])
        return zoom

    def matrices(self, canvas_per_view: float) -> np.ndarray:
        """(n, 2, 3) affines from pixels of a canvas holding the view at `canvas_per_view` to output pixels."""
        return _matrices(self.rel, self.base_zoom, np.array(self.origin), *self.out_size, canvas_per_view)


def inverse_corner_spans(rel: np.ndarray, out_w: int, out_h: int) -> tuple[np.ndarray, np.ndarray]:
    """Where the frame corners come from in view units relative to the start point, before base zoom:
    arrays (n·4,) of x and y."""
    unit = np.sqrt(out_w * out_h)
    corners = np.array([[-out_w / 2, -out_h / 2], [out_w / 2, -out_h / 2],
                        [-out_w / 2, out_h / 2], [out_w / 2, out_h / 2]])
    s = np.exp(rel[:, 3])[:, None, None]
    cos, sin = np.cos(rel[:, 2])[:, None], np.sin(rel[:, 2])[:, None]
    d = corners[None, :, :] - (rel[:, None, :2] * unit)  # (n, 4, 2)
    # Rᵀ d / s
    x = (cos * d[..., 0] + sin * d[..., 1]) / s[..., 0]
    y = (-sin * d[..., 0] + cos * d[..., 1]) / s[..., 0]
    return x.ravel(), y.ravel()


def plan_shot_camera(rel: np.ndarray, view_w: float, view_h: float, out_w: int, out_h: int,
                     subject: tuple[float, float], max_zoom: float = DEFAULT_MAX_ZOOM) -> ShotCamera:
    """Fit the relative track `rel` ((n, 4), row 0 = identity) over a view_w×view_h picture.

    `subject` is the view point to keep central when there is room.
    """
    for damping in _DAMPING_STEPS:
        moved = rel * damping
        xs, ys = inverse_corner_spans(moved, out_w, out_h)
        span_x, span_y = float(xs.max() - xs.min()), float(ys.max() - ys.min())
        base_zoom = max(1.0, span_x / view_w, span_y / view_h) * 1.002
        if base_zoom <= max_zoom or damping == 0.0:
            break
    origin = []
    for lo_v, hi_v, size, want in ((xs.min(), xs.max(), view_w, subject[0]), (ys.min(), ys.max(), view_h, subject[1])):
        lo, hi = -lo_v / base_zoom, size - hi_v / base_zoom
        origin.append(min(max(want, lo), hi) if lo <= hi else (lo + hi) / 2)
    return ShotCamera(moved, base_zoom, (origin[0], origin[1]), damping, (out_w, out_h))


def _matrices(rel: np.ndarray, base_zoom: float, origin: np.ndarray, out_w: int, out_h: int,
              canvas_per_view: float) -> np.ndarray:
    """p_out = centre + s·R·base_zoom·(q/k − origin) + t·unit, as (n, 2, 3) affines of canvas pixels q."""
    unit = np.sqrt(out_w * out_h)
    s = np.exp(rel[:, 3]) * base_zoom
    cos, sin = np.cos(rel[:, 2]) * s, np.sin(rel[:, 2]) * s
    a = np.stack([np.stack([cos, -sin], axis=1), np.stack([sin, cos], axis=1)], axis=1)  # (n, 2, 2)
    centre = np.array([out_w / 2, out_h / 2])
    b = centre - a @ origin + rel[:, :2] * unit
    # Pixel centres: output pixel j covers [j, j+1) in the continuous frame, so shift by ½ on both sides.
    b = b - 0.5 + (a @ np.array([0.5, 0.5])) / canvas_per_view
    return np.concatenate([a / canvas_per_view, b[:, :, None]], axis=2)
