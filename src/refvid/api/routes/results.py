"""GET (and HEAD) /v1/results/{task_id}/{name}: signed, expiring, Range-capable, no Authorization header needed."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, RedirectResponse, Response

from refvid.api.deps import RuntimeDep
from refvid.api.errors import ApiError, documented_errors
from refvid.api.head import add_head_route
from refvid.api.present import result_name
from refvid.api.routes.files import SERVED_FILE_HEADERS
from refvid.api.store_calls import store_op
from refvid.contract import VIDEO_MEDIA_TYPES
from refvid.runtime import Runtime
from refvid.storage.signing import verify
from refvid.tasks.model import TaskStatus
from refvid.tasks.store.tasks import get_task

router = APIRouter(responses=documented_errors(429))  # any authenticated request may be rate-limited
# The names a result is served under (the video's follows its container, `output_format`) → (media type, key).
MEDIA = {**{f"video.{fmt}": (media_type, "video_key") for fmt, media_type in VIDEO_MEDIA_TYPES.items()},
         "thumbnail.jpg": ("image/jpeg", "thumbnail_key")}


@router.get("/v1/results/{task_id}/{name}", summary="Download a result (signed URL)",
            responses={200: {"content": {"video/mp4": {}, "video/quicktime": {}, "image/jpeg": {}}},
                       206: {"description": "Range"}, 403: {}, 404: {}, 410: {}})
async def get_result(task_id: str, name: Literal["video.mp4", "video.mov", "thumbnail.jpg"], request: Request,
                     runtime: RuntimeDep, expires: str | None = None, sig: str | None = None) -> Response:
    state = verify(runtime.signing_secret, f"/v1/results/{task_id}/{name}", expires, sig)
    if state == "invalid":
        raise ApiError(403, "invalid or missing signature", "invalid_signature")
    if state == "expired":
        raise ApiError(410, "this result URL has expired (results live 24 h after completion)", "url_expired")
    task = await store_op(request, get_task(task_id))
    key = (task.result or {}).get(MEDIA[name][1]) if task and task.status == TaskStatus.COMPLETED else None
    served = blob_response(runtime, key, name) if key and result_name(key) == name else None
    if served is None:
        raise ApiError(404, f"no result {name} for task {task_id}", "result_not_found")
    return served


def blob_response(runtime: Runtime, key: str, name: str) -> Response | None:
    """A stored result file (`name` in MEDIA, the key's `result_name`) as the answer: the file itself,
    Range-capable, from local storage; a redirect to a presigned URL from S3; None when it is gone."""
    local = runtime.blobs.local_path(key)
    if local is not None:
        return FileResponse(local, media_type=MEDIA[name][0], filename=name, headers=SERVED_FILE_HEADERS)
    presigned = runtime.blobs.presigned_url(key, 3600)
    return RedirectResponse(presigned, status_code=307) if presigned else None


add_head_route(router, "/v1/results/{task_id}/{name}", get_result)
