"""The compositor: a CPU engine that turns references into a video by compositing, not by generation.

Recipe (see `CompositorEngine.generate`): images become shots in prompt-mention order; the camera motion of
the reference videos (estimated, smoothed, time-scaled to the output) is replayed over them, or a gentle
seeded move when there is no video; videos the prompt names as content play as their own shots; cuts and
small zoom accents land on onsets of the reference audio, which (looped, trimmed, faded) is the soundtrack,
else a seeded ambience. Frames are composited in I420 (one warp per frame) and streamed to the encoder.

`EngineOutput.extra` reports what was done: `shots` (source, frames, fit, `scale` = output pixels per
reference pixel over the shot), `camera_scale` (the same over all image shots), `cuts` (frames),
`onsets_s`, `motion` (the motion sources, or "seeded") and `audio` ("reference" | "ambience" | "none").
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import cv2
import numpy as np

from refvid.config import Settings
from refvid.engines.base import BaseEngine, EngineContext, EngineInput, EngineOutput
from refvid.errors import Cancelled, TaskFailure
from refvid.media.encode import EncoderSettings, PlanarFrame, VideoWriter, encode_thumbnail
from refvid.media.framing import choose_fit, contain_scale, cover_scale
from refvid.media.info import Reference
from refvid.media.motion import (
    CameraTrack,
    accent_pulses,
    concat_tracks,
    estimate_track,
    gentle_params,
    relative_params,
)
from refvid.media.prompt_refs import find_mentions, mention_order, video_roles
from refvid.media.shots import FootageShot, ShotRenderer, ShotReport, prepare_image_shot
from refvid.media.soundtrack import SAMPLE_RATE, build_soundtrack, detect_onsets, synthesize_ambience
from refvid.media.timeline import DEFAULT_FADE_FRAMES, Span, accent_frames, place_cuts, spans

AUDIO_CHUNK_FRAMES = 12  # audio goes to the muxer every half second of video, interleaved with the frames
SEEDED_SHARE_WITH_VIDEO = 0.2  # a trace of the seeded move under transferred motion, so seeds still matter
ShotFactory = Callable[[], tuple[ShotRenderer, ShotReport]]


class _Progress:
    """Monotonic progress in phases, and the cancel check (called at least once per frame or decoded frame)."""

    def __init__(self, ctx: EngineContext):
        self.ctx, self.last = ctx, 0.0

    def check(self) -> None:
        if self.ctx.cancelled():
            raise Cancelled()

    def report(self, pct: float) -> None:
        self.check()
        if pct >= self.last + 0.25:
            self.last = pct
            self.ctx.progress(pct)

    def phase(self, lo: float, hi: float) -> Callable[[float], None]:
        return lambda fraction: self.report(lo + (hi - lo) * min(1.0, max(0.0, fraction)))


def _cast(prompt: str, images: list[Reference], videos: list[Reference]) -> list[Reference]:
    """Shot order: images and content videos by first mention, then unmentioned images (and, with no
    images, unmentioned videos) in list order."""
    roles = video_roles(prompt, len(videos), have_images=bool(images))
    content = {("image", i) for i in range(len(images))} | {("video", i) for i, r in enumerate(roles) if r == "content"}
    order: list[tuple[str, int]] = []
    for m in find_mentions(prompt):
        key = (m.kind, m.index)
        if key in content and key not in order:
            order.append(key)
    order += [("image", i) for i in mention_order(prompt, "image", len(images)) if ("image", i) not in order]
    order += [k for k in sorted(content) if k[0] == "video" and k not in order]
    return [images[i] if kind == "image" else videos[i] for kind, i in order]


class _ShotQueue:
    """Prepares shot k+1 on a helper thread while shot k renders; waits cancellably."""

    def __init__(self, factories: list[ShotFactory], progress: _Progress):
        self._factories, self._progress = factories, progress
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="shot-prep")
        self._futures: dict[int, Future[tuple[ShotRenderer, ShotReport]]] = {}
        self.reports: list[ShotReport] = []

    def _submit(self, k: int) -> None:
        if k < len(self._factories) and k not in self._futures:
            self._futures[k] = self._pool.submit(self._factories[k])

    def get(self, k: int) -> ShotRenderer:
        self._submit(k)
        future = self._futures[k]
        while True:
            self._progress.check()
            try:
                shot, report = future.result(timeout=0.1)
                break
            except TimeoutError:
                continue
        self.reports.append(report)
        self._submit(k + 1)
        return shot

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


class CompositorEngine(BaseEngine):
    """Reference-driven CPU renderer (see the module docstring)."""

    name = "compositor"
    resolutions = ("480p", "720p", "1080p")
    supports_audio = True

    def __init__(self, settings: Settings | None = None, encoder: EncoderSettings | None = None):
        self.settings = settings
        self.encoder = encoder or EncoderSettings()

    def generate(self, job: EngineInput, ctx: EngineContext) -> EngineOutput:
        out, progress = job.output, _Progress(ctx)
        n, fps, seed = out.frames, out.fps, out.seed
        job.work_dir.mkdir(parents=True, exist_ok=True)
        cast = _cast(job.prompt, job.images, job.videos)
        if not cast:
            raise TaskFailure("the compositor needs at least one image or video reference")
        video_share = min(1.0, sum(v.info.duration_s for v in job.videos) / max(1, out.duration_s))
        motion_to = 2.0 + 20.0 * video_share if job.videos else 2.0

        # 1. Soundtrack, and its onsets when it comes from the references.
        audio: np.ndarray | None = None
        onsets: list[float] = []
        strengths: list[float] = []
        if out.generate_audio and job.audios:
            order = mention_order(job.prompt, "audio", len(job.audios))
            audio = build_soundtrack([job.audios[i].path for i in order], out.duration_s, check=progress.check)
            found, power = detect_onsets(audio)
            onsets, strengths = found.tolist(), power.tolist()
        elif out.generate_audio:
            audio = synthesize_ambience(out.duration_s, seed, check=progress.check)
        progress.report(2.0)

        # 2. The camera: motion of every reference video, chained and time-scaled; else a seeded move.
        track = self._camera_track(job.videos, progress, motion_to)
        params = gentle_params(n, seed)
        if track is not None:
            params = track.resample(n) + SEEDED_SHARE_WITH_VIDEO * params

        # 3. Timeline: cuts on onsets (hard) when the audio is a reference, else even with crossfades.
        lengths = [r.info.duration_s if r.kind == "video" else 0.0 for r in cast]
        mean_video = float(np.mean([x for x in lengths if x])) if any(lengths) else 1.0
        cuts, on_onset = place_cuts(n, fps, [x or mean_video for x in lengths], onsets, strengths)
        shot_spans = spans(n, cuts, 0 if len(onsets) else DEFAULT_FADE_FRAMES)
        accents = accent_frames(onsets, strengths, fps, n, cuts)
        params[:, 3] += accent_pulses(n, accents)

        # 4. Render: each frame is one warp (two during a crossfade), streamed to the encoder with its audio.
        factories = [self._factory(ref, span, params, track, job, seed) for ref, span in zip(cast, shot_spans,
                                                                                              strict=True)]
        queue = _ShotQueue(factories, progress)
        path, thumb_path = job.work_dir / "output.mp4", job.work_dir / "thumbnail.jpg"
        try:
            thumb = self._render(job, queue, shot_spans, audio, progress.phase(motion_to + 1, 99.0))
        finally:
            queue.close()
        encode_thumbnail(thumb, thumb_path)

        # 5. Report.
        image_scales = [s for r in queue.reports if r.kind == "image" for s in r.scale]
        extra: dict[str, Any] = {
            "shots": [r.to_dict() for r in queue.reports],
            "camera_scale": [round(min(image_scales), 5), round(max(image_scales), 5)] if image_scales else None,
            "cuts": cuts, "cuts_on_onsets": on_onset, "onsets_s": [round(t, 4) for t in onsets],
            "motion": [v.label for v in job.videos] or "seeded",
            "audio": "none" if audio is None else ("reference" if job.audios else "ambience"),
        }
        ctx.progress(100.0)
        return EngineOutput(path, seed, out.width, out.height, float(out.duration_s), fps, audio is not None,
                            thumb_path, extra)

    def _camera_track(self, videos: list[Reference], progress: _Progress, upto: float) -> CameraTrack | None:
        if not videos:
            return None
        tracks, lo = [], 2.0
        total = sum(max(v.info.duration_s, 0.1) for v in videos)
        for video in videos:
            hi = lo + (upto - lo) * max(video.info.duration_s, 0.1) / total
            tracks.append(estimate_track(video.path, check=progress.check, on_progress=progress.phase(lo, hi)))
            lo = hi
            total -= max(video.info.duration_s, 0.1)
        return concat_tracks(tracks)

    def _factory(self, ref: Reference, span: Span, params: np.ndarray, track: CameraTrack | None,
                 job: EngineInput, seed: int) -> ShotFactory:
        out = job.output
        if ref.kind == "image":
            rel = _relative(params[span.start:span.end])
            return lambda: prepare_image_shot(ref.path, ref.label, span, rel, out.width, out.height)
        times = _footage_times(ref, job.videos, span, track, out.frames, out.fps)
        zoom = np.exp(np.abs(gentle_params(out.frames, seed)[span.start:span.end, 3]) * 0.5)

        def footage() -> tuple[ShotRenderer, ShotReport]:
            shot = FootageShot(ref.path, span, times, zoom, out.width, out.height)
            w, h = ref.info.width or out.width, ref.info.height or out.height
            fit = choose_fit(w, h, out.width, out.height)
            base = cover_scale(w, h, out.width, out.height) if fit == "cover" else contain_scale(
                w, h, out.width, out.height)
            zooms = (base * float(zoom.min()), base * float(zoom.max())) if fit == "cover" else (base, base)
            return shot, ShotReport(ref.label, "video", span, fit, zooms)

        return footage

    def _render(self, job: EngineInput, queue: _ShotQueue, shot_spans: list[Span], audio: np.ndarray | None,
                report: Callable[[float], None]) -> np.ndarray:
        out = job.output
        n, h, w = out.frames, out.height, out.width
        other = PlanarFrame(w, h)  # the incoming shot during a crossfade
        active: dict[int, ShotRenderer] = {}
        thumb = np.zeros((h, w, 3), np.uint8)
        with VideoWriter(job.work_dir / "output.mp4", w, h, out.fps, audio=audio is not None,
                         sample_rate=SAMPLE_RATE, settings=self.encoder) as writer:
            for i in range(n):
                frame = writer.new_frame()
                visible = [k for k, s in enumerate(shot_spans) if s.start <= i < s.end]
                for k in visible:
                    if k not in active:
                        active[k] = queue.get(k)
                active[visible[0]].render(i, frame.planes)
                if len(visible) > 1:
                    span = shot_spans[visible[1]]
                    active[visible[1]].render(i, other.planes)
                    alpha = (i - span.start + 0.5) / max(1, span.fade_in)
                    for mine, theirs in zip(frame.planes, other.planes, strict=True):
                        cv2.addWeighted(mine, 1.0 - alpha, theirs, alpha, 0.0, dst=mine)
                for k in [k for k in active if shot_spans[k].end <= i + 1]:
                    active.pop(k).close()
                if i == n // 2:
                    thumb = _to_rgb(frame)
                writer.write_planar(frame)
                if audio is not None and ((i + 1) % AUDIO_CHUNK_FRAMES == 0 or i == n - 1):
                    writer.write_audio(audio[:, writer.samples_written:round((i + 1) * SAMPLE_RATE / out.fps)])
                report((i + 1) / n)
        for shot in active.values():
            shot.close()
        return thumb


def _to_rgb(frame: PlanarFrame) -> np.ndarray:
    rgb: np.ndarray = frame.frame.to_ndarray(format="rgb24")
    return rgb


def _relative(params: np.ndarray) -> np.ndarray:
    return relative_params(params, 0) if len(params) else params


def _footage_times(ref: Reference, videos: list[Reference], span: Span, track: CameraTrack | None,
                   n: int, fps: int) -> np.ndarray:
    """Video time per frame of a footage shot, on the same time scale as the replayed camera track: the
    shot shows the part of its video that the track plays at that moment, when the video is long enough."""
    durations = [max(v.info.duration_s, 1.0 / fps) for v in videos]
    k = next(i for i, v in enumerate(videos) if v is ref)
    total = track.duration_s if track is not None and track.duration_s > 0 else sum(durations)
    speed = total / max(1e-6, (n - 1) / fps)
    start_k = sum(durations[:k]) + k / fps
    length = (span.end - 1 - span.start) * speed / fps
    u = span.start / max(1, n - 1) * total
    offset = min(max(u - start_k, 0.0), max(0.0, durations[k] - length))
    times = offset + (np.arange(span.end - span.start) * speed / fps)
    return np.minimum(times, durations[k])
