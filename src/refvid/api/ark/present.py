"""Task → Ark's task object (Retrieve, List and Ark-dialect webhooks), for tasks of either dialect.

Statuses: pending → queued, processing → running, completed → succeeded, cancelled → cancelled; a failure
whose code is `expired` (never started before its deadline) is Ark's `expired`, and so is a completed task
whose files have been collected after the result lifetime (Ark's link would have expired too). The video URL
is the same signed URL the FoxAPI dialect hands out (`refvid.api.present.result_url`); the last frame, when
`return_last_frame` was asked, is a signed URL of its own that the Ark routes serve (`frames.py`).
"""

from __future__ import annotations

from typing import Any

from refvid.api.ark.frames import last_frame_url
from refvid.api.ark.schemas import ArkTask, ArkTaskContent, ArkTaskError, ArkUsage
from refvid.api.present import made_by, result_name, result_url
from refvid.contract import ARK_PIXELS_PER_TOKEN, FPS, SIZES, ArkStatus
from refvid.runtime import Runtime
from refvid.tasks.model import Task, TaskStatus

# refvid's stored status → Ark's, for statuses that map one to one (failures need the error code).
STATUS: dict[TaskStatus, ArkStatus] = {TaskStatus.PENDING: "queued", TaskStatus.PROCESSING: "running",
                                       TaskStatus.COMPLETED: "succeeded", TaskStatus.FAILED: "failed",
                                       TaskStatus.CANCELLED: "cancelled"}
# Ark's status → the stored status the task store can filter on (then `ark_status` decides exactly).
STORED: dict[ArkStatus, TaskStatus] = {"queued": TaskStatus.PENDING, "running": TaskStatus.PROCESSING,
                                       "succeeded": TaskStatus.COMPLETED, "failed": TaskStatus.FAILED,
                                       "cancelled": TaskStatus.CANCELLED, "expired": TaskStatus.FAILED}
EXPIRED_RESULT = ArkTaskError(code="ResultExpired", message="the result expired and its files were deleted")


def has_video(task: Task) -> bool:
    return task.status == TaskStatus.COMPLETED and bool(task.result) and "video_key" in (task.result or {})


def ark_status(task: Task) -> ArkStatus:
    if task.status == TaskStatus.FAILED and (task.error or {}).get("code") == "expired":
        return "expired"
    if task.status == TaskStatus.COMPLETED and not has_video(task):
        return "expired"
    return STATUS[task.status]


def ark_model(task: Task) -> str:
    """The model id the task was created with: Ark's id as sent for Ark tasks, ours for FoxAPI ones."""
    sent = task.spec.option("model")
    return str(sent) if sent is not None else task.spec.model


def present_ark_task(task: Task, base: str, runtime: Runtime) -> ArkTask:
    """The Ark task object, with signed URLs under `base`."""
    spec, result = task.spec, task.result or {}
    status = ark_status(task)
    content = usage = None
    if status == "succeeded":
        frame_url = last_frame_url(runtime, base, task) if spec.option("return_last_frame") else None
        video_key = result["video_key"]
        content = ArkTaskContent(video_url=result_url(runtime, base, task, video_key, result_name(video_key)),
                                 last_frame_url=frame_url, **made_by(task))
        tokens = _tokens(result)
        usage = ArkUsage(completion_tokens=tokens, total_tokens=tokens)
    seed = result.get("seed", task.engine_state.get("seed", spec.seed))
    return ArkTask(
        id=task.id, model=ark_model(task), status=status, error=_error(task, status), content=content,
        usage=usage, created_at=int(task.created_at),
        updated_at=int(task.finished_at or task.started_at or task.created_at),
        seed=int(seed) if seed is not None and int(seed) >= 0 else None,
        resolution=spec.resolution, ratio=_ratio(task), duration=_duration(task),
        framespersecond=int(result.get("fps", FPS)), generate_audio=spec.generate_audio,
        service_tier=spec.service_tier, priority=spec.priority,
        execution_expires_after=spec.execution_expires_after or int(runtime.settings.pending_deadline_s),
        safety_identifier=_text_option(spec.option("safety_identifier")),
        draft=spec.draft, draft_task_id=spec.draft_task_id,
        fileformat=spec.output_format,
    )


def _text_option(value: str | int | bool | None) -> str | None:
    return None if value is None else str(value)


def _error(task: Task, status: ArkStatus) -> ArkTaskError | None:
    if task.error:
        return ArkTaskError(code=str(task.error.get("code", "generation_failed")),
                            message=str(task.error.get("message", "")))
    return EXPIRED_RESULT if status == "expired" else None


def _tokens(result: dict[str, Any]) -> int:
    """Ark bills video by output pixels: width × height × frames / 1024, the same for the same output."""
    frames = round(float(result["duration"]) * int(result["fps"]))
    return int(result["width"]) * int(result["height"]) * frames // ARK_PIXELS_PER_TOKEN


def _ratio(task: Task) -> str:
    """The output's ratio once its size is known (an `adaptive` request reports what it became)."""
    result = task.result or {}
    size = (result.get("width"), result.get("height"))
    for ratio, pixels in SIZES.get(task.spec.resolution, {}).items():
        if pixels == size:
            return ratio
    return task.spec.ratio


def _duration(task: Task) -> int:
    result = task.result or {}
    return round(float(result["duration"])) if "duration" in result else task.spec.duration
