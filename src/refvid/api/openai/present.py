"""Task → the `/v1/videos` video object, for tasks created in any dialect.

Statuses: pending → queued, processing → in_progress, completed → completed; failed and cancelled → failed
(OpenAI's job has no cancelled state: the error says `cancelled`). A completed task whose files were
collected after the result lifetime is failed with code `expired`, as the FoxAPI dialect says it, since
`/content` can no longer serve it. The poll interval (`openai-poll-after-ms`) is a tenth of the estimated
time left, within bounds, so a long render is not polled every second and a short one is not waited on.
"""

from __future__ import annotations

from refvid.api.openai.schemas import OpenAIVideo, OpenAIVideoError
from refvid.api.present import made_by
from refvid.contract import (
    ADAPTIVE,
    OPENAI_POLL_MAX_MS,
    OPENAI_POLL_MIN_MS,
    SIZES,
    OpenAIStatus,
    size_name,
)
from refvid.runtime import Runtime
from refvid.tasks.model import Task, TaskStatus
from refvid.tasks.service import TaskService

STATUS: dict[TaskStatus, OpenAIStatus] = {TaskStatus.PENDING: "queued", TaskStatus.PROCESSING: "in_progress",
                                          TaskStatus.COMPLETED: "completed", TaskStatus.FAILED: "failed",
                                          TaskStatus.CANCELLED: "failed"}
EXPIRED = OpenAIVideoError(code="expired", message="the result expired and its files were deleted")
CANCELLED = OpenAIVideoError(code="cancelled", message="the task was cancelled before it finished")


def has_video(task: Task) -> bool:
    return task.status == TaskStatus.COMPLETED and "video_key" in (task.result or {})


def present_video(task: Task, runtime: Runtime, service: TaskService) -> OpenAIVideo:
    """The video object; unfinished ones carry their poll interval for the route's header."""
    spec, result = task.spec, task.result or {}
    status = STATUS[task.status]
    if task.status == TaskStatus.COMPLETED and not has_video(task):
        status = "failed"
    finished_at = int(task.finished_at) if task.finished_at else None
    video = OpenAIVideo(
        id=task.id, model=str(spec.option("model") or spec.model), status=status,
        progress=100 if status == "completed" else task.progress, created_at=int(task.created_at),
        completed_at=finished_at if status == "completed" else None,
        expires_at=finished_at + runtime.settings.result_ttl_s if finished_at and status == "completed" else None,
        prompt=spec.prompt or None, seconds=str(round(float(result.get("duration", spec.duration)))),
        size=_size(task), error=_error(task) if status == "failed" else None,
        **(made_by(task) if status == "completed" else {}),
    )
    if status in ("queued", "in_progress"):
        video._poll_after_ms = poll_after_ms(service.estimated_time(task))
    return video


def poll_after_ms(estimated_s: float) -> int:
    """A tenth of the time left, between OPENAI_POLL_MIN_MS and OPENAI_POLL_MAX_MS."""
    return int(min(OPENAI_POLL_MAX_MS, max(OPENAI_POLL_MIN_MS, estimated_s * 100)))


def _size(task: Task) -> str:
    """`WxH` of the result, else of the resolution and ratio asked for; `adaptive` until a reference decides."""
    result = task.result or {}
    if "width" in result and "height" in result:
        return size_name(int(result["width"]), int(result["height"]))
    pixels = SIZES.get(task.spec.resolution, {}).get(task.spec.ratio)
    return size_name(*pixels) if pixels else ADAPTIVE


def _error(task: Task) -> OpenAIVideoError:
    if task.error:
        return OpenAIVideoError(code=str(task.error.get("code", "generation_failed")),
                                message=str(task.error.get("message", "")))
    return CANCELLED if task.status == TaskStatus.CANCELLED else EXPIRED
