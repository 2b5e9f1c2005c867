"""How the worker pins a task's output down before the engine runs (`worker.child.resolve_job`), with each
model's limits read from the catalog rather than the 2.0 line's constants: `duration: -1` on 2.5 may run to
30 s, an edit takes its video's length and frame, `output_format` picks the container; credits reserved for
`duration: -1` follow the model's longest output."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from refvid.engines.compositor.engine import CompositorEngine
from refvid.engines.upstream.families import family_named
from refvid.media.info import MediaInfo, Reference
from refvid.tasks.model import TaskSpec
from refvid.tasks.service import credits_for
from refvid.worker.child import resolve_job
from refvid.worker.events import JobRequest

V25, V20 = "seedance-2.5-reference-to-video", "seedance-2.0-reference-to-video"


def video(seconds: float, width: int = 640, height: int = 360) -> Reference:
    info = MediaInfo("video", "mp4", 1000, width, height, seconds, 24.0, has_video=True)
    return Reference("video", 0, "https://example.com/v.mp4", Path("v.mp4"), info)


def portrait_image() -> Reference:
    info = MediaInfo("image", "png", 1000, 600, 800)
    return Reference("image", 0, "https://example.com/i.png", Path("i.png"), info)


def resolved(model: str, refs: list[Reference], **spec: Any) -> tuple[int, str, str, str]:
    job = JobRequest("task-x", TaskSpec(model=model, **{"prompt": "@Video1", **spec}), 1, refs, Path("."), {})
    made = resolve_job(CompositorEngine(), job)
    return made.output.duration_s, made.output.ratio, made.output.video_name, made.task_type


def test_auto_duration_follows_the_models_range() -> None:
    refs = [video(20.0), video(2.0)]
    assert resolved(V25, refs, duration=-1)[0] == 22  # 2.5 makes up to 30 s
    assert resolved(V20, refs, duration=-1)[0] == 15  # 2.0 up to 15 s


def test_edit_takes_its_videos_length_and_frame_and_the_container_is_the_one_asked() -> None:
    refs = [portrait_image(), video(9.4)]
    assert resolved(V25, refs, duration=-1, ratio="adaptive", omni_reference_task_type="edit",
                    output_format="mov") == (9, "16:9", "output.mov", "edit")
    assert resolved(V25, refs, duration=-1, ratio="adaptive")[1] == "3:4"  # otherwise: the first image's
    second = Reference("video", 1, "https://example.com/w.mp4", Path("w.mp4"),
                       MediaInfo("video", "mp4", 1000, 360, 640, 6.2, 24.0, has_video=True))
    assert resolved(V25, [video(9.4), second], duration=-1, ratio="adaptive", omni_reference_task_type="edit",
                    prompt="@Video2 at night")[:2] == (6, "9:16")  # the video the prompt names first


def test_credits_for_auto_duration_reserve_the_models_longest_output() -> None:
    assert credits_for(TaskSpec(model=V25, prompt="x", duration=-1, resolution="480p")) == 2 * credits_for(
        TaskSpec(model=V20, prompt="x", duration=-1, resolution="480p"))


def test_the_seedance_upstream_family_never_narrows_a_model_of_the_line() -> None:
    family = family_named("seedance")
    assert (family.max_images, family.max_videos, family.max_audios, family.max_references) == (30, 10, 10, 50)
    assert (family.min_duration_s, family.max_duration_s) == (4, 30)
