"""The compositor: a CPU engine that turns references into a video by compositing, not by generation.

Recipe (see `CompositorEngine.generate`): images become shots in prompt-mention order; the prompt is read
for camera, editing and grade words (`prompt_reader`); each image shot's camera is the reference videos'
motion (estimated, smoothed, time-scaled) when the prompt asks for it or says nothing of the camera, else the
prompt's camera words, else a gentle seeded move (`direction`); videos the prompt names as content play as
their own shots; cuts land on onsets of the reference audio (looped, trimmed, faded: the soundtrack, else a
seeded ambience) and small eased zoom accents on the beats that stand out (never on every beat of a steady
track); each shot is graded with lookup tables.
Frames are composited in I420 (one warp and one LUT pass per frame) and streamed to the encoder.
Image-to-video (`first_last.py`) and text-to-video (`procedural.py`, a placeholder) are dispatched by mode;
edit and extend of a reference video (`omni_reference_task_type`) by `rework.py`.

`EngineOutput.extra` reports what was done: `shots` (source, frames, fit, `scale` = output pixels per
reference pixel over the shot), `camera_scale` (the same over all image shots), `cuts` (frames),
`onsets_s`, `accents` (frames), `motion` (the motion sources, "words" or "seeded"), `directions` (what was
read from the prompt), `audio` ("reference" | "ambience" | "none"), and in every mode `made` (what the
compositor makes of the mode, `CAPABILITIES.makes`) and `placeholder` (text-to-video: true).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import cv2
import numpy as np

from refvid.config import Settings
from refvid.contract import VIDEO_TASK_TYPES, Mode
from refvid.engines.base import BaseEngine, EngineContext, EngineInput, EngineOutput
from refvid.engines.compositor import CAPABILITIES
from refvid.engines.compositor.audio_shot import render_audio_shot
from refvid.engines.compositor.direction import (
    CameraPlan,
    cast_shots,
    fade_frames,
    footage_times,
    uses_video_camera,
)
from refvid.engines.compositor.first_last import render_first_last
from refvid.engines.compositor.framing import choose_fit, contain_scale, cover_scale
from refvid.engines.compositor.grade import Grade
from refvid.engines.compositor.motion import CameraTrack, concat_tracks, estimate_track, gentle_params
from refvid.engines.compositor.procedural import render_procedural
from refvid.engines.compositor.prompt_reader import Directions, read_prompt
from refvid.engines.compositor.rework import render_edit, render_extend
from refvid.engines.compositor.shots import FootageShot, ShotRenderer, ShotReport, prepare_image_shot
from refvid.engines.compositor.timeline import ACCENT_GAP_S, Span, accent_frames, place_cuts, spans, standout_beats
from refvid.errors import Cancelled, TaskFailure
from refvid.media.encode import EncoderSettings, PlanarFrame, VideoWriter, encode_thumbnail
from refvid.media.info import Reference
from refvid.media.prompt_refs import mention_order
from refvid.media.soundtrack import SAMPLE_RATE, build_soundtrack, detect_onsets, strong_beats, synthesize_ambience

AUDIO_CHUNK_FRAMES = 12  # audio goes to the muxer every half second of video, interleaved with the frames
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

    capabilities = CAPABILITIES

    def __init__(self, settings: Settings | None = None, encoder: EncoderSettings | None = None):
        self.settings = settings
        self.encoder = encoder or EncoderSettings()

    def generate(self, job: EngineInput, ctx: EngineContext) -> EngineOutput:
        if job.mode != "reference":  # the siblings: first/last frames, or the procedural placeholder
            progress = _Progress(ctx)
            render = render_first_last if job.mode == "image" else render_procedural
            made = render(job, self.encoder, progress.check, progress.phase(2.0, 99.0))
            ctx.progress(100.0)
            return _saying_what(made, job.mode)
        if job.task_type in VIDEO_TASK_TYPES and job.videos:  # edit / extend one reference video
            progress = _Progress(ctx)
            rework = render_edit if job.task_type == "edit" else render_extend
            made = rework(job, self.encoder, progress.check, progress.phase(2.0, 99.0))
            ctx.progress(100.0)
            return made
        if job.audios and not job.images and not job.videos:  # audio-only references (models that allow them)
            progress = _Progress(ctx)
            made = render_audio_shot(job, self.encoder, progress.check, progress.phase(2.0, 99.0))
            ctx.progress(100.0)
            return made
        out, progress = job.output, _Progress(ctx)
        n, fps, seed = out.frames, out.fps, out.seed
        job.work_dir.mkdir(parents=True, exist_ok=True)
        cast = cast_shots(job.prompt, job.images, job.videos)
        if not cast:
            raise TaskFailure("the compositor needs at least one image or video reference")
        directions = read_prompt(job.prompt)
        from_video = uses_video_camera(directions, bool(job.videos))
        video_share = min(1.0, sum(v.info.duration_s for v in job.videos) / max(1, out.duration_s))
        motion_to = 2.0 + 20.0 * video_share if from_video else 2.0

        # 1. Soundtrack, its onsets (cuts) and strong beats (accents) when it comes from the references.
        audio: np.ndarray | None = None
        onsets, strengths, beats, beat_power = np.zeros(0), np.zeros(0), np.zeros(0), np.zeros(0)
        if out.generate_audio and job.audios:
            order = mention_order(job.prompt, "audio", len(job.audios))
            audio = build_soundtrack([job.audios[i].path for i in order], out.duration_s, check=progress.check)
            onsets, strengths = detect_onsets(audio)
            beats, beat_power = strong_beats(audio, onsets, strengths)
        elif out.generate_audio:
            audio = synthesize_ambience(out.duration_s, seed, check=progress.check)
        progress.report(2.0)

        # 2. The camera: motion of every reference video when it leads, chained and time-scaled.
        track = self._camera_track(job.videos, progress, motion_to) if from_video else None

        # 3. Timeline: cuts on onsets when the audio is a reference, else even; the words choose the fades.
        lengths = [r.info.duration_s if r.kind == "video" else 0.0 for r in cast]
        mean_video = float(np.mean([x for x in lengths if x])) if any(lengths) else 1.0
        cuts, on_onset = place_cuts(n, fps, [x or mean_video for x in lengths], onsets.tolist(), strengths.tolist())
        shot_spans = spans(n, cuts, fade_frames(directions, len(onsets) > 0))
        accents = accent_frames(*standout_beats(beats.tolist(), beat_power.tolist()), fps, n, cuts,
                                min_strength=0.0, min_gap_s=ACCENT_GAP_S)
        plan = CameraPlan.build(directions, n, fps, seed, track, accents)

        # 4. Render: each frame is one warp (two during a crossfade), streamed to the encoder with its audio.
        factories = [self._factory(ref, span, k, plan, track, job) for k, (ref, span) in enumerate(
            zip(cast, shot_spans, strict=True))]
        queue = _ShotQueue(factories, progress)
        path, thumb_path = job.work_dir / out.video_name, job.work_dir / "thumbnail.jpg"
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
            "cuts": cuts, "cuts_on_onsets": on_onset, "onsets_s": [round(t, 4) for t in onsets.tolist()],
            "accents": list(plan.accent_frames),
            "motion": [v.label for v in job.videos] if from_video else ("words" if plan.source == "words"
                                                                        else "seeded"),
            "directions": _describe(directions),
            "audio": "none" if audio is None else ("reference" if job.audios else "ambience"),
        }
        ctx.progress(100.0)
        return _saying_what(EngineOutput(path, seed, out.width, out.height, float(out.duration_s), fps,
                                         audio is not None, thumb_path, extra), job.mode)

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

    def _factory(self, ref: Reference, span: Span, k: int, plan: CameraPlan, track: CameraTrack | None,
                 job: EngineInput) -> ShotFactory:
        out, key = job.output, (ref.kind, ref.index)
        grade = Grade(plan.directions.looks_for(key), out.width, out.height, out.seed, plan.directions.variation)
        if ref.kind == "image":
            rel = plan.shot_track(key, span, k)
            return lambda: _graded(prepare_image_shot(ref.path, ref.label, span, rel, out.width, out.height), grade)
        times = footage_times(ref, job.videos, span, track, out.frames, out.fps)
        zoom = np.exp(np.abs(gentle_params(out.frames, out.seed)[span.start:span.end, 3]) * 0.5)

        def footage() -> tuple[ShotRenderer, ShotReport]:
            shot = FootageShot(ref.path, span, times, zoom, out.width, out.height)
            w, h = ref.info.width or out.width, ref.info.height or out.height
            fit = choose_fit(w, h, out.width, out.height)
            base = cover_scale(w, h, out.width, out.height) if fit == "cover" else contain_scale(
                w, h, out.width, out.height)
            zooms = (base * float(zoom.min()), base * float(zoom.max())) if fit == "cover" else (base, base)
            return _graded((shot, ShotReport(ref.label, "video", span, fit, zooms)), grade)

        return footage

    def _render(self, job: EngineInput, queue: _ShotQueue, shot_spans: list[Span], audio: np.ndarray | None,
                report: Callable[[float], None]) -> np.ndarray:
        out = job.output
        n, h, w = out.frames, out.height, out.width
        other = PlanarFrame(w, h)  # the incoming shot during a crossfade
        active: dict[int, ShotRenderer] = {}
        thumb = np.zeros((h, w, 3), np.uint8)
        with VideoWriter(job.work_dir / out.video_name, w, h, out.fps, audio=audio is not None,
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


def _saying_what(made: EngineOutput, mode: Mode) -> EngineOutput:
    """The output with what the compositor made of `mode` (`CAPABILITIES.makes`), which every dialect's task
    object shows (`made`, `placeholder`)."""
    said = {"made": CAPABILITIES.makes[mode], "placeholder": mode in CAPABILITIES.placeholder_modes}
    return dataclasses.replace(made, extra={**made.extra, **said})


def _to_rgb(frame: PlanarFrame) -> np.ndarray:
    rgb: np.ndarray = frame.frame.to_ndarray(format="rgb24")
    return rgb


class _GradedShot:
    """A shot renderer followed by its grade."""

    def __init__(self, shot: ShotRenderer, grade: Grade):
        self.shot, self.grade, self.span = shot, grade, shot.span

    def render(self, index: int, dst: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
        self.shot.render(index, dst)
        self.grade.apply(index, dst)

    def close(self) -> None:
        self.shot.close()


def _graded(made: tuple[ShotRenderer, ShotReport], grade: Grade) -> tuple[ShotRenderer, ShotReport]:
    shot, report = made
    return (shot if grade.is_identity else _GradedShot(shot, grade)), report


def _describe(directions: Directions) -> dict[str, Any]:
    """What the prompt asked for, as plain JSON (sorted, so it does not depend on word order)."""
    return {"camera": sorted(directions.camera.moves), "speed": directions.camera.speed,
            "shots": {f"@{kind.capitalize()}{index + 1}": sorted(words.moves) + ([words.speed] if words.speed else [])
                      for (kind, index), words in directions.shots},
            "pace": directions.pace, "transition": directions.transition, "rhythm": directions.rhythm,
            "looks": sorted(directions.looks), "camera_from_video": directions.camera_from_video}
