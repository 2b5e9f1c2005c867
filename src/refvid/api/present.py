"""Task → wire object (spec §4), with absolute, signed result URLs."""

from __future__ import annotations

import time
from pathlib import PurePosixPath
from typing import Any

from fastapi import Request

from refvid.api.schemas import TaskErrorBody, TaskInfo, TaskObject, Usage, VideoResult
from refvid.runtime import Runtime
from refvid.storage.signing import signed_query
from refvid.tasks.model import Task, TaskStatus
from refvid.tasks.service import TaskService

_BASE_URLS: dict[tuple[object, ...], str] = {}  # what a request's base URL depends on → that URL
_MAX_BASE_URLS = 256  # the Host header is the client's to choose


def base_url(request: Request, runtime: Runtime) -> str:
    """REFVID_PUBLIC_URL, else the URL the request came to (Starlette's `request.base_url`, which costs
    more than the rest of a task poll's presentation: remembered by what it is built from)."""
    if runtime.settings.public_url:
        return runtime.settings.public_url.rstrip("/")
    scope = request.scope
    host = next((value for name, value in scope["headers"] if name == b"host"), None)
    server = scope.get("server")
    key = (scope.get("scheme"), tuple(server) if server else None, scope.get("root_path"),
           scope.get("app_root_path"), host)
    base = _BASE_URLS.get(key)
    if base is None:
        if len(_BASE_URLS) >= _MAX_BASE_URLS:
            _BASE_URLS.clear()
        base = _BASE_URLS[key] = str(request.base_url).rstrip("/")
    return base


def result_name(key: str) -> str:
    """The name a stored result is served under: its key's last part (`video.mp4`, `video.mov` as the task's
    `output_format` asked, `thumbnail.jpg`), so a result URL ends with the file's real extension."""
    return PurePosixPath(key).name


def result_url(runtime: Runtime, base: str, task: Task, key: str, name: str) -> str:
    """Signed URL valid until 24 h after completion. S3 deployments hand out presigned URLs directly."""
    expires_at = int((task.finished_at or 0) + runtime.settings.result_ttl_s)
    presigned = runtime.blobs.presigned_url(key, max(1, int(expires_at - time.time())))
    if presigned:
        return presigned
    path = f"/v1/results/{task.id}/{name}"
    return f"{base}{path}?{signed_query(runtime.signing_secret, path, expires_at)}"


def _results(runtime: Runtime, base: str, task: Task) -> list[VideoResult] | None:
    result = task.result
    if task.status != TaskStatus.COMPLETED or not result or "video_key" not in result:
        return None
    thumb = result.get("thumbnail_key")
    extra: dict[str, Any] = result.get("extra") or {}
    return [VideoResult(
        url=result_url(runtime, base, task, result["video_key"], result_name(result["video_key"])),
        thumbnail_url=result_url(runtime, base, task, thumb, "thumbnail.jpg") if thumb else None,
        seed=result["seed"], width=result["width"], height=result["height"], duration=round(result["duration"]),
        fps=result["fps"], has_audio=result["has_audio"], steps=extra.get("steps"), **made_by(task),
    )]


def made_by(task: Task) -> dict[str, Any]:
    """The `MadeBy` fields of a finished task: the engine it was routed to, and what that engine said it
    made (`EngineOutput.extra`: `made`, `placeholder`), for every dialect's task object."""
    extra: dict[str, Any] = (task.result or {}).get("extra") or {}
    made = extra.get("made")
    return {"engine": task.engine or None, "placeholder": extra.get("placeholder") is True,
            "made": str(made) if made else None}


def configured_base_url(runtime: Runtime) -> str:
    """The base URL when there is no request to take it from (webhooks): REFVID_PUBLIC_URL, else
    http://{host}:{port}."""
    settings = runtime.settings
    return (settings.public_url or f"http://{settings.host}:{settings.port}").rstrip("/")


def present_task(task: Task, request: Request, runtime: Runtime, service: TaskService) -> TaskObject:
    return present_task_at(task, base_url(request, runtime), runtime, service)


def present_task_at(task: Task, base: str, runtime: Runtime, service: TaskService) -> TaskObject:
    """The wire object with result URLs under `base` (present_task without a request)."""
    results = _results(runtime, base, task)
    status = task.status.value
    if task.status == TaskStatus.COMPLETED and not results:
        # The files were garbage-collected after the URL lifetime: completed must always carry results,
        # so say plainly what happened instead.
        status = "failed"
    error = None
    if task.error:
        error = TaskErrorBody(code=str(task.error.get("code", "generation_failed")),
                              message=str(task.error.get("message", "")))
    elif status == "failed":
        error = TaskErrorBody(code="expired", message="the result expired and was deleted")
    return TaskObject(
        id=task.id, model=task.spec.model, status=status,
        progress=task.progress if task.status != TaskStatus.COMPLETED else 100,
        created=int(task.created_at),
        task_info=TaskInfo(can_cancel=task.can_cancel, estimated_time=service.estimated_time(task)),
        results=results, error=error, usage=Usage(credits_reserved=_credits_reserved(task)),
        draft=task.spec.draft or None, draft_task_id=task.spec.draft_task_id,
    )


def _credits_reserved(task: Task) -> int:
    """Failed and cancelled tasks release their credits (the ledger forgets them in the same transaction)."""
    return 0 if task.status in (TaskStatus.FAILED, TaskStatus.CANCELLED) else task.credits
