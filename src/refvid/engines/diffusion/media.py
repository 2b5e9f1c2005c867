"""Media plumbing of the diffusion engine (numpy/OpenCV/PyAV only, no torch): prompt tokens, reference
loading at the native grid, the optical-flow control video, and native-fps frames → contract frames."""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Sequence
from pathlib import Path

import av
import cv2
import numpy as np
from PIL import Image, ImageOps

from refvid.contract import Mention, find_mentions
from refvid.media.conform import fit as fit  # one copy, shared with the upstream engine's conform
from refvid.media.info import Reference
from refvid.media.prompt_refs import VideoRole

# A leading article before a mention: the replacement brings its own ("the @Image1" → "the first reference image").
_ARTICLE = re.compile(r"\b(?:the|a|an)\s+$", re.IGNORECASE)
_ORDINALS = ("first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth")
_ZH_NUM = "一二三四五六七八九"
_ZH_WORDS = {"image": "第{}张参考图", "video": "第{}个参考视频", "audio": "第{}段参考音频"}


def _words(mention: Mention, orders: dict[str, list[int]]) -> str:
    """The words for one mention, numbered by where its reference stands in `orders[kind]`."""
    order = orders.get(mention.kind, [])
    position = order.index(mention.index) if mention.index in order else mention.index
    if mention.text[1].isascii():  # `@Image2` → English words, `@图片2` → Chinese ones
        ordinal = _ORDINALS[position] if 0 <= position < len(_ORDINALS) else f"#{position + 1}"
        return f"the {ordinal} reference {mention.kind}"
    number = _ZH_NUM[position] if 0 <= position < len(_ZH_NUM) else str(position + 1)
    return _ZH_WORDS[mention.kind].format(number)


def rewrite_prompt(prompt: str, orders: dict[str, list[int]]) -> str:
    """Replace `@Image2`-style tokens (and the Chinese forms; the grammar is `refvid.contract`'s) with words a
    text encoder understands, numbered by the position the reference is actually given to the model in
    (`orders[kind]`)."""
    parts: list[str] = []
    last = 0
    for mention in find_mentions(prompt):
        before = prompt[last:mention.start]
        article = _ARTICLE.search(before)
        parts += [before[:article.start()] if article else before, _words(mention, orders)]
        last = mention.end
    parts.append(prompt[last:])
    return re.sub(r"\s{2,}", " ", "".join(parts)).strip()


def load_image(path: Path, max_side: int) -> Image.Image:
    """An RGB reference image, upright (EXIF) and no larger than needed: the pipeline letterboxes it onto
    the native grid anyway, and a 6000-px photo would only cost memory."""
    with Image.open(path) as img:
        rgb = ImageOps.exif_transpose(img).convert("RGB")
    if max(rgb.size) > max_side:
        rgb.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    return rgb


def sample_videos(videos: Sequence[Reference], fps: int, count: int, width: int,
                  height: int) -> tuple[np.ndarray, list[int]]:
    """`count` frames at `fps` along the reference videos played one after another (the timeline the
    compositor uses too), each fitted to width×height; past the end the last frame holds (a still camera).
    Also returns, per frame, the position in `videos` it came from."""
    out = np.zeros((count, height, width, 3), np.uint8)
    sources: list[int] = []
    filled, offset = 0, 0.0
    for position, ref in enumerate(videos):
        duration = ref.info.duration_s
        targets = [i / fps - offset for i in range(filled, count) if i / fps < offset + duration]
        done = _decode_at(ref.path, targets, out, filled, width, height)
        sources += [position] * (done - filled)
        filled, offset = done, offset + duration
    if filled == 0:
        return out[:0], []
    out[filled:] = out[filled - 1]
    return out, sources + [sources[-1]] * (count - filled)


def _decode_at(path: Path, targets: list[float], out: np.ndarray, start: int, width: int, height: int) -> int:
    """Write into out[start:] the frame shown at each target time (the latest frame not after it)."""
    pending = iter(targets)
    target = next(pending, None)
    index, current = start, None
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for frame in container.decode(stream):
            time = frame.time if frame.time is not None else 0.0
            while target is not None and current is not None and target < time:
                out[index] = current
                index, target = index + 1, next(pending, None)
            if target is None:
                break
            current = fit(frame.to_ndarray(format="rgb24"), width, height)
    while target is not None and current is not None:
        out[index] = current
        index, target = index + 1, next(pending, None)
    return index


def _colorwheel() -> np.ndarray:
    """The Middlebury flow colour wheel (55 hues), as RAFT's flow_to_image draws it for VACE's flow task."""
    segments = ((15, (255, None, 0)), (6, (None, 255, 0)), (4, (0, 255, None)),
                (11, (0, None, 255)), (13, (None, 0, 255)), (6, (255, 0, None)))
    rows = []
    rising = True
    for n, pattern in segments:
        ramp = np.floor(255 * np.arange(n) / n)
        ramp = ramp if rising else 255 - ramp
        rows.append(np.stack([ramp if c is None else np.full(n, c) for c in pattern], axis=1))
        rising = not rising
    return np.concatenate(rows).astype(np.float32) / 255


_WHEEL = _colorwheel()


def flow_rgb(flow: np.ndarray, floor: float = 1.0) -> np.ndarray:
    """Colour-code a dense flow field (hue = direction, saturation = speed, white = still), as RAFT's
    visualiser does for VACE's flow task: normalised per frame, but never by less than `floor` px so that
    sensor noise on a still shot stays white."""
    u, v = flow[..., 0], flow[..., 1]
    radius = np.sqrt(u * u + v * v)
    # A high percentile rather than the max: one mistracked pixel must not wash out the whole frame.
    scale = max(float(np.percentile(radius, 99)), floor)
    radius = np.minimum(radius / scale, 1.0)
    angle = np.arctan2(-v, -u) / np.pi
    fk = (angle + 1) / 2 * (len(_WHEEL) - 1)
    k0 = np.floor(fk).astype(np.int32)
    k1 = (k0 + 1) % len(_WHEEL)
    f = (fk - k0)[..., None]
    color = (1 - f) * _WHEEL[k0] + f * _WHEEL[k1]
    color = 1 - radius[..., None] * (1 - color)
    rgb: np.ndarray = np.floor(255 * np.clip(color, 0, 1)).astype(np.uint8)
    return rgb


def camera_flow(prev: np.ndarray, grey: np.ndarray) -> np.ndarray | None:
    """The camera's motion between two grey frames as a dense flow field: corners tracked with
    Lucas-Kanade, a similarity transform (pan, zoom, roll) fitted with RANSAC so that moving subjects and
    flat regions do not disturb it. None when too little texture is tracked."""
    points = cv2.goodFeaturesToTrack(prev, maxCorners=400, qualityLevel=0.01, minDistance=5)
    if points is None or len(points) < 8:
        return None
    moved, status, _ = cv2.calcOpticalFlowPyrLK(prev, grey, points, None)  # type: ignore[call-overload, unused-ignore]
    good = status.ravel() == 1
    if good.sum() < 8:
        return None
    matrix, _ = cv2.estimateAffinePartial2D(points[good], moved[good], method=cv2.RANSAC,
                                            ransacReprojThreshold=2.0)
    if matrix is None:
        return None
    ys, xs = np.mgrid[0 : prev.shape[0], 0 : prev.shape[1]].astype(np.float32)
    u = matrix[0, 0] * xs + matrix[0, 1] * ys + matrix[0, 2] - xs
    v = matrix[1, 0] * xs + matrix[1, 1] * ys + matrix[1, 2] - ys
    return np.dstack([u, v]).astype(np.float32)


def flow_control(frames: np.ndarray, mode: str = "camera", analysis_side: int = 256) -> np.ndarray:
    """The reference clip as a flow video, so that only its motion conditions the model, not its content.
    `camera`: the fitted camera motion alone; `flow`: dense Farneback flow (subjects' motion too, noisier).
    Estimated on small grey frames (speed), drawn at the clip's size."""
    n, h, w = frames.shape[:3]
    if n < 2:
        return np.full_like(frames, 255)
    scale = min(1.0, analysis_side / max(h, w))
    size = (max(8, round(w * scale)), max(8, round(h * scale)))
    grey = [cv2.resize(cv2.cvtColor(f, cv2.COLOR_RGB2GRAY), size, interpolation=cv2.INTER_AREA) for f in frames]
    out = np.empty_like(frames)
    still = np.zeros((size[1], size[0], 2), np.float32)
    for i in range(1, n):
        if mode == "camera":
            flow = camera_flow(grey[i - 1], grey[i])
            flow = still if flow is None else flow
        else:
            flow = cv2.calcOpticalFlowFarneback(grey[i - 1], grey[i], None, 0.5, 3, 15, 3, 5, 1.2,  # type: ignore[call-overload, unused-ignore]
                                                0)
        out[i] = cv2.resize(flow_rgb(flow), (w, h), interpolation=cv2.INTER_LINEAR)
    out[0] = out[1]  # no motion into the first frame: repeat the first measured one
    return out


def control_video(frames: np.ndarray, roles: Sequence[VideoRole], motion: str = "camera") -> np.ndarray:
    """The control video a VACE-style model gets: per frame, footage the prompt wants shown (`content`) stays
    as it is, footage used for its movement (`motion`) becomes flow (`motion`: camera | flow | raw)."""
    out = frames.copy()
    start = 0
    for i in range(1, len(frames) + 1):
        if i == len(frames) or roles[i] != roles[start]:
            if roles[start] == "motion" and motion in ("camera", "flow"):
                out[start:i] = flow_control(frames[start:i], motion) if i - start > 1 else 255
            start = i
    return out


def output_frames(frames: np.ndarray, fps: float, count: int, out_fps: int, width: int, height: int,
                  mode: str = "blend") -> Iterator[np.ndarray]:
    """`count` frames at `out_fps` and exactly width×height from native frames at `fps`: output frame i
    shows native time i/out_fps, blended linearly between its two neighbours (or the nearest one)."""
    cache: dict[int, np.ndarray] = {}

    def native(i: int) -> np.ndarray:
        i = min(max(i, 0), len(frames) - 1)
        if i not in cache:
            if len(cache) > 2:  # output time only moves forward: keep the two neighbours
                cache.pop(min(cache))
            cache[i] = fit(frames[i], width, height)
        return cache[i]

    for i in range(count):
        pos = i * fps / out_fps
        i0 = math.floor(pos + 1e-6)
        w = pos - i0
        if mode == "nearest" or w < 1e-3:
            yield native(round(pos) if mode == "nearest" else i0)
        else:
            a, b = native(i0).astype(np.float32), native(i0 + 1).astype(np.float32)
            yield np.clip(a + (b - a) * w + 0.5, 0, 255).astype(np.uint8)
