"""The director: who is on screen and when (the shot order from the prompt's mentions, which moment of a
reference video a footage shot shows), and how each shot is filmed: it turns what the prompt asks
(`Directions`) and what the references offer (a camera track, the beats of the audio) into each image
shot's camera move, the cut style and the accents.

Who drives the camera of an image shot, in order:
1. a reference video's camera path, when the prompt asks for it ("camera like @Video1") or when the prompt
   has no camera words at all (the video is then the only hint of a move);
2. the prompt's camera words for that shot (its clause) over the clip's;
3. a gentle seeded move, clearly visible, so one picture never reads as a still.
Beat accents (eased zoom pulses on strong beats) ride on top, except on a shot asked to hold still.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from refvid.engines.compositor.motion import CameraTrack, accent_pulses, gentle_params, relative_params
from refvid.engines.compositor.moves import PACE_FACTORS, SPEED_FACTORS, default_move, word_move
from refvid.engines.compositor.prompt_reader import Directions, ShotKey
from refvid.engines.compositor.timeline import DEFAULT_FADE_FRAMES, Span
from refvid.media.info import Reference
from refvid.media.prompt_refs import find_mentions, mention_order, video_roles

SEEDED_SHARE_WITH_VIDEO = 0.2  # a trace of the seeded move under transferred motion, so seeds still matter
CALM_FADE_FRAMES, ENERGETIC_FADE_FRAMES = 18, 6


def uses_video_camera(directions: Directions, has_videos: bool) -> bool:
    """Whether the reference videos' camera path drives the image shots (rule 1 of the module docstring)."""
    return has_videos and (directions.camera_from_video or not directions.has_camera_words)


def fade_frames(directions: Directions, cut_on_beats: bool) -> int:
    """Crossfade length at each cut: hard cuts on the beat or when asked, else a dissolve paced by the words."""
    if directions.transition == "hard" or (cut_on_beats and directions.transition != "crossfade"):
        return 0
    if directions.pace == "calm":
        return CALM_FADE_FRAMES
    return ENERGETIC_FADE_FRAMES if directions.pace == "energetic" else DEFAULT_FADE_FRAMES


@dataclass(frozen=True)
class CameraPlan:
    """Everything needed to give each image shot its relative camera track."""

    directions: Directions
    n: int
    fps: int
    seed: int
    video_params: np.ndarray | None  # (n, 4) absolute, when the video's path drives the camera
    accents: np.ndarray  # (n,) log-scale pulses
    accent_frames: tuple[int, ...]  # where each pulse starts

    @classmethod
    def build(cls, directions: Directions, n: int, fps: int, seed: int, track: CameraTrack | None,
              accent_frames: Sequence[int]) -> CameraPlan:
        params = None
        if track is not None:
            params = track.resample(n) + SEEDED_SHARE_WITH_VIDEO * gentle_params(n, seed)
        return cls(directions, n, fps, seed, params, accent_pulses(n, accent_frames), tuple(accent_frames))

    @property
    def source(self) -> str:
        """What drives the camera: "video", "words" or "seeded"."""
        if self.video_params is not None:
            return "video"
        return "words" if self.directions.has_camera_words else "seeded"

    def shot_track(self, key: ShotKey, span: Span, shot_number: int) -> np.ndarray:
        """The relative track (span length, 4) of the image shot `key` shown over `span`."""
        length = span.end - span.start
        words = self.directions.camera_for(key)
        variation = self.directions.variation + shot_number
        if self.video_params is not None:
            part = self.video_params[span.start:span.end]
            rel = relative_params(part, 0) if len(part) else part.copy()
        elif words.moves:
            rel = word_move(words, length, self.fps, self.seed, variation, self.directions.pace)
        else:
            speed = SPEED_FACTORS[words.speed] * PACE_FACTORS[self.directions.pace]
            rel = default_move(length, self.fps, self.seed, variation, speed)
        if "static" not in words.moves:
            rel = rel.copy()
            rel[:, 3] += self.accents[span.start:span.end]
        return rel


def cast_shots(prompt: str, images: list[Reference], videos: list[Reference]) -> list[Reference]:
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


def footage_times(ref: Reference, videos: list[Reference], span: Span, track: CameraTrack | None,
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
