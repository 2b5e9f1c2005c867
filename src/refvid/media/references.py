"""Turning a task's reference URLs into checked local files (spec §3 limits, spec §6 failure codes).

Durations measured from containers carry encoder padding (an MP3 of exactly 15 s reads as ~15.03 s; AAC adds
priming samples), so every duration rule allows `DURATION_TOLERANCE_S` = 0.2 s in the caller's favour:
15.0–15.2 s passes "≤ 15 s", 1.8–2.0 s passes "≥ 2 s", while 16 s or 1.5 s fail. Byte and pixel limits are
exact. The per-file limits are `refvid.contract`'s (per-file byte caps `MAX_BYTES` are enforced while
downloading; a single video must already be below the total cap); the counts and the longest clip are the
model's (`refvid.catalog`): an audio clip and the videos in total may be as long as the model's longest output.
"""

from __future__ import annotations

import concurrent.futures as cf
import os
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

from refvid.catalog import BUILT_IN, CatalogModel
from refvid.contract import (
    AUDIO_MAX_S,
    IMAGE_MAX_ASPECT,
    IMAGE_MAX_SIDE_PX,
    IMAGE_MIN_ASPECT,
    IMAGE_MIN_SIDE_PX,
    MAX_BYTES,
    REFERENCE_MODEL,
    VIDEO_MIN_S,
    VIDEO_TOTAL_MAX_BYTES,
    VIDEO_TOTAL_MAX_S,
    VIDEO_TOTAL_MIN_S,
    format_mb,
    size_over,
)
from refvid.errors import Cancelled, ReferenceFailure
from refvid.media.fetch import Fetcher
from refvid.media.info import MediaInfo, MediaKind, Reference
from refvid.media.probe import probe
from refvid.media.refcache import RefCache

DURATION_TOLERANCE_S = 0.2
VIDEO_CODECS = {"h264": "H.264", "hevc": "H.265"}
EXTENSIONS = {"jpeg": "jpg", "png": "png", "webp": "webp", "mp4": "mp4", "mov": "mov", "mp3": "mp3",
              "wav": "wav"}
FETCH_WORKERS = 4  # downloads are I/O bound; a few in parallel, without letting one task hog the network
_POLL_S = 0.2
DEFAULT_LIMITS = next(m for m in BUILT_IN if m.id == REFERENCE_MODEL)


def prepare_references(
    image_urls: Sequence[str], video_urls: Sequence[str], audio_urls: Sequence[str], work_dir: Path,
    fetcher: Fetcher, cache: RefCache | None = None, check_cancelled: Callable[[], bool] | None = None,
    image_labels: Sequence[str] = (), model: CatalogModel | None = None,
) -> list[Reference]:
    """Fetch, probe and check every reference; return them as images, videos, audios, each in list order.

    Files land in `work_dir` as `<kind>_<index>.<ext>`. The first failing reference in that order raises
    ReferenceFailure (its message names the field, index and rule); then the video totals are checked.
    `check_cancelled()` is polled about every 0.2 s from this thread; when it turns true, downloads stop and
    `Cancelled` is raised. `image_labels` names the images in messages when they are not `image_urls[i]`
    (image-to-video's `image_url`, `end_image_url`). `model` gives the counts and clip lengths (default: the
    Seedance 2.0 line's).
    """
    model = model or DEFAULT_LIMITS
    lists: tuple[tuple[MediaKind, Sequence[str]], ...] = (
        ("image", image_urls), ("video", video_urls), ("audio", audio_urls))
    jobs = [(kind, index, url) for kind, urls in lists for index, url in enumerate(urls)]
    _check_counts(jobs, model)
    if not jobs:
        return []
    work_dir.mkdir(parents=True, exist_ok=True)
    stop = threading.Event()  # workers poll this cheap flag, not the caller's (possibly slow) callback
    with cf.ThreadPoolExecutor(min(FETCH_WORKERS, len(jobs)), thread_name_prefix="refvid-fetch") as pool:
        futures = [pool.submit(_prepare_one, kind, index, url, work_dir, fetcher, cache, stop,
                               image_labels[index] if kind == "image" and index < len(image_labels) else None,
                               _longest_clip_s(model))
                   for kind, index, url in jobs]
        try:
            references = [_result(future, check_cancelled) for future in futures]
        except BaseException:
            stop.set()
            for future in futures:
                future.cancel()
            raise
    _check_video_totals([r for r in references if r.kind == "video"], _longest_clip_s(model))
    return references


def _longest_clip_s(model: CatalogModel) -> float:
    """An audio clip and the videos in total: 15 s on the 2.0 line, the model's longest output beyond it."""
    return max(AUDIO_MAX_S, float(model.max_duration))


def _result(future: cf.Future[Reference], check_cancelled: Callable[[], bool] | None) -> Reference:
    while not cf.wait([future], timeout=_POLL_S).done:
        if check_cancelled is not None and check_cancelled():
            raise Cancelled()
    return future.result()


def _prepare_one(kind: MediaKind, index: int, url: str, work_dir: Path, fetcher: Fetcher,
                 cache: RefCache | None, stop: threading.Event, label: str | None = None,
                 longest_clip_s: float = AUDIO_MAX_S) -> Reference:
    label = label or f"{kind}_urls[{index}]"
    staging = work_dir / f".{kind}_{index}.fetch"

    try:
        internal = fetcher.internal_path(url)  # asked once: the hook may hit the database or blob storage
    except ReferenceFailure as exc:  # e.g. an expired upload: make the message name the reference
        if exc.message.startswith(label):
            raise
        raise ReferenceFailure(f"{label}: {exc.message}", code=exc.code) from exc

    def fetch_and_probe(path: Path) -> MediaInfo:
        if internal is not None:
            fetcher.fetch_internal(internal, url, path, label=label, max_bytes=MAX_BYTES[kind])
        else:
            fetcher.fetch(url, path, label=label, max_bytes=MAX_BYTES[kind], cancelled=stop.is_set)
        return probe(path, kind, label)

    try:
        key = cache.key_for(kind, url, internal) if cache is not None else None
        if cache is not None and key is not None:
            info = cache.get_or_create(key, staging, fetch_and_probe)
        else:
            info = fetch_and_probe(staging)
        check_reference(kind, label, info, longest_clip_s)
        path = work_dir / f"{kind}_{index}.{EXTENSIONS[info.format]}"
        os.replace(staging, path)
    finally:
        staging.unlink(missing_ok=True)
    return Reference(kind=kind, index=index, url=url, path=path, info=info)


def _fail(message: str, code: str = "reference_invalid") -> ReferenceFailure:
    return ReferenceFailure(message, code=code)


def _check_counts(jobs: list[tuple[MediaKind, int, str]], model: CatalogModel) -> None:
    for kind in ("image", "video", "audio"):
        limit = model.max_count(kind)
        count = sum(1 for job in jobs if job[0] == kind)
        if count > limit:
            raise _fail(f"{kind}_urls: {count} {kind}s exceed the limit of {limit}")
    if len(jobs) > model.max_references:
        raise _fail(f"{len(jobs)} references exceed the limit of {model.max_references} in total")


def check_reference(kind: MediaKind, label: str, info: MediaInfo, longest_clip_s: float = AUDIO_MAX_S) -> None:
    """Raise ReferenceFailure if one probed reference breaks a per-file rule of spec §3."""
    if info.size_bytes > MAX_BYTES[kind]:
        raise _fail(f"{label}: file is {size_over(info.size_bytes, MAX_BYTES[kind])}", "reference_too_large")
    if kind == "image":
        for side, px in (("width", info.width), ("height", info.height)):
            if px > IMAGE_MAX_SIDE_PX:
                raise _fail(f"{label}: {side} {px} px exceeds {IMAGE_MAX_SIDE_PX} px")
            if px < IMAGE_MIN_SIDE_PX:
                raise _fail(f"{label}: {side} {px} px is below {IMAGE_MIN_SIDE_PX} px")
        if not IMAGE_MIN_ASPECT <= info.aspect <= IMAGE_MAX_ASPECT:
            ratio = f"{info.width}/{info.height} = {info.aspect:.2f}"
            raise _fail(f"{label}: aspect ratio (width/height) {ratio} is outside "
                        f"{IMAGE_MIN_ASPECT}–{IMAGE_MAX_ASPECT}")
    elif kind == "video":
        if info.video_codec not in VIDEO_CODECS:
            raise _fail(f"{label}: video codec {info.video_codec} is not H.264 or H.265",
                        "reference_unsupported_format")
        if info.duration_s < VIDEO_MIN_S - DURATION_TOLERANCE_S:
            raise _fail(f"{label}: duration {info.duration_s:.1f} s is below {VIDEO_MIN_S:g} s")
    elif info.duration_s > longest_clip_s + DURATION_TOLERANCE_S:
        raise _fail(f"{label}: duration {info.duration_s:.1f} s exceeds {longest_clip_s:g} s")


def _check_video_totals(videos: list[Reference], longest_s: float = VIDEO_TOTAL_MAX_S) -> None:
    if not videos:
        return
    total_s = sum(v.info.duration_s for v in videos)
    if total_s > longest_s + DURATION_TOLERANCE_S:
        raise _fail(f"video_urls: total duration {total_s:.1f} s exceeds {longest_s:g} s")
    if total_s < VIDEO_TOTAL_MIN_S - DURATION_TOLERANCE_S:
        raise _fail(f"video_urls: total duration {total_s:.1f} s is below {VIDEO_TOTAL_MIN_S:g} s")
    total_bytes = sum(v.info.size_bytes for v in videos)
    if total_bytes >= VIDEO_TOTAL_MAX_BYTES:
        raise _fail(f"video_urls: total size {format_mb(total_bytes)} is not below "
                    f"{format_mb(VIDEO_TOTAL_MAX_BYTES)}", "reference_too_large")
