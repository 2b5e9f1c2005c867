"""`/v1/videos` (spec §10): create, retrieve, list, download and delete video jobs, as OpenAI's video API and
the servers that keep its shape (SGLang, vLLM-Omni, LiteLLM) answer them, so the `openai` SDK's
`client.videos` works by changing `base_url`.

Same keys, same tasks, same limits and engines as the FoxAPI and Ark dialects: a video created here is
`GET /v1/tasks/{id}` there and the other way round; another key's task is a 404 here as there. Every error is
this dialect's shape (`OpenAIRoute`). FoxAPI's `POST /v1/videos/generations` is never matched here.
"""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from refvid.api.body_strings import body_fingerprint
from refvid.api.deps import CallerDep, caller_of, json_response
from refvid.api.inline_media import store_inline_media
from refvid.api.limits import Limits
from refvid.api.openai.errors import OpenAIError, OpenAIRoute, invalid, not_found
from refvid.api.openai.form import FILE_FIELD, CreateForm, create_form
from refvid.api.openai.mapping import UPLOAD_PLACEHOLDER, map_create
from refvid.api.openai.present import has_video, present_video
from refvid.api.openai.schemas import OpenAIErrorResponse, OpenAIVideo, OpenAIVideoDeleted, OpenAIVideoList
from refvid.api.present import base_url, result_name
from refvid.api.routes.results import blob_response
from refvid.api.store_calls import blocking, present_fresh, present_polled
from refvid.api.uploads import CONTENT_TYPES, UploadSlots, copy_upload, record_uploads
from refvid.contract import OPENAI_DEFAULT_PAGE_SIZE, OPENAI_MAX_PAGE_SIZE, OPENAI_VARIANTS, MediaKind
from refvid.errors import Conflict, NotFound
from refvid.media.probe import sniff
from refvid.runtime import Runtime
from refvid.tasks.model import Task, TaskSpec, TaskStatus
from refvid.tasks.service import TaskService

router = APIRouter(route_class=OpenAIRoute, tags=["OpenAI /v1/videos dialect"])
VIDEOS = "/v1/videos"
POLL_HEADER = "openai-poll-after-ms"
_BODY = {"schema": {"$ref": "#/components/schemas/OpenAICreateRequest"}}
_CONTENT_KEYS = {"video": "video_key", "thumbnail": "thumbnail_key"}


def _errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=`: these statuses answer with this dialect's error envelope."""
    return {status: {"model": OpenAIErrorResponse} for status in statuses}


def _answer(video: OpenAIVideo) -> Response:
    poll_ms = video._poll_after_ms
    return json_response(video, headers={POLL_HEADER: str(poll_ms)} if poll_ms is not None else None)


@router.post(VIDEOS, response_model=OpenAIVideo, summary="Create a video (OpenAI shape; multipart or JSON)",
             responses=_errors(400, 401, 402, 413, 429, 503, 507),
             openapi_extra={"requestBody": {"required": True, "content": {
                 "application/json": _BODY, "multipart/form-data": _BODY}}})
async def create_video(request: Request) -> Response:
    caller = caller_of(request)  # not a dependency: a create's only parameter is its body (api/deps.py)
    owner, runtime, service = caller.owner, caller.runtime, caller.service
    async with create_form(request, runtime) as form:
        submission = map_create(form.request, request.app.state.models, _file_kind(form))
        spec = await _with_upload(submission.spec, form, owner, runtime, request)
    spec = await store_inline_media(spec, owner, runtime, request)
    limits: Limits = request.app.state.limits  # open tasks and credit budget, as in the other dialects
    offer = submission.offer
    reserve_s = offer.reserved_seconds(spec.duration, spec.has_timed_references)
    fingerprint = await body_fingerprint(form.request.model_dump(mode="json"))
    task, _ = await limits.submit(service, owner, spec, offer.engine, None, fingerprint, reserve_s)  # durable
    return _answer(await present_fresh(service, task, lambda t: present_video(t, runtime, service)))


@router.get(f"{VIDEOS}/{{video_id}}", response_model=OpenAIVideo, summary="Retrieve a video (OpenAI shape)",
            responses=_errors(400, 401, 404, 429),
            openapi_extra={"parameters": [{"name": "video_id", "in": "path", "required": True,
                                           "schema": {"type": "string", "title": "Video Id"}}]})
async def retrieve_video(request: Request) -> Response:
    """Polled (`create_and_poll`), so built like the other dialects' GET (`present_polled`), no dependency."""
    caller = caller_of(request)
    video_id: str = request.path_params["video_id"]
    runtime, service = caller.runtime, caller.service
    video = await present_polled(service, _owned(service, caller.owner, video_id),
                                 lambda task: present_video(task, runtime, service), sync_upstream=True)
    return _answer(video)


@router.get(VIDEOS, response_model=OpenAIVideoList, summary="List videos (OpenAI shape), cursor paging",
            responses=_errors(400, 401, 429))
async def list_videos(caller: CallerDep, after: str | None = None,
                      limit: Annotated[int, Query(ge=1, le=OPENAI_MAX_PAGE_SIZE)] = OPENAI_DEFAULT_PAGE_SIZE,
                      order: Literal["asc", "desc"] = "desc") -> Response:
    """Newest first (`order=desc`) or oldest first; `after` is the last id of the previous page."""
    runtime, service = caller.runtime, caller.service
    tasks, more = await service.list(caller.owner, None, None, limit, after, oldest_first=order == "asc")
    data = [await present_fresh(service, task, lambda t: present_video(t, runtime, service)) for task in tasks]
    return json_response(OpenAIVideoList(data=data, first_id=data[0].id if data else None,
                                         last_id=data[-1].id if data else None, has_more=more))


@router.get(f"{VIDEOS}/{{video_id}}/content", summary="Download a video's MP4 or thumbnail (OpenAI shape)",
            responses={200: {"content": {"video/mp4": {}, "image/jpeg": {}}}, **_errors(400, 401, 404, 429)})
async def download_content(video_id: str, caller: CallerDep, variant: str = "video") -> Response:
    """The bytes themselves (the SDK's `download_content` returns the body it gets), Range-capable; from S3
    a redirect to a presigned URL, which the SDK follows without sending its key there."""
    if variant not in OPENAI_VARIANTS:
        raise invalid("variant", f"variant {variant[:40]!r} is not offered; use one of {', '.join(OPENAI_VARIANTS)}")
    service = caller.service
    task = await _owned(service, caller.owner, video_id)
    if not has_video(task):
        shown = await present_fresh(service, task, lambda t: present_video(t, caller.runtime, service))
        raise OpenAIError(404, f"video {video_id} is {shown.status}"
                               "; its content is served once it has completed", "video_not_ready", "video_id")
    key = (task.result or {}).get(_CONTENT_KEYS[variant])
    served = await blocking(blob_response, caller.runtime, key, result_name(key)) if key else None  # S3: a network call
    if served is None:
        raise OpenAIError(404, f"video {video_id} has no {variant}", "content_not_found", "variant")
    return served


@router.delete(f"{VIDEOS}/{{video_id}}", response_model=OpenAIVideoDeleted, summary="Delete a video (OpenAI shape)",
               responses=_errors(400, 401, 404, 409, 429))
async def delete_video(video_id: str, caller: CallerDep) -> OpenAIVideoDeleted:
    """A finished video is deleted with its files; a queued one is cancelled and deleted; one being rendered
    is asked to stop and answers 409 until it has (a local engine stops within about two seconds)."""
    owner, service = caller.owner, caller.service
    task = await _owned(service, owner, video_id)
    if not task.status.is_terminal():
        try:
            task = await service.cancel(owner, video_id)
        except Conflict as exc:
            raise OpenAIError(409, exc.message, exc.code, "video_id") from exc
    if task.status == TaskStatus.PROCESSING:
        raise OpenAIError(409, f"video {video_id} is being rendered: it was asked to stop; delete it again in a "
                               "moment", "video_in_progress", "video_id", headers={"Retry-After": "1"})
    await service.delete(owner, video_id)
    return OpenAIVideoDeleted(id=video_id)


def _unsupported(feature: str) -> Any:
    """An endpoint for an OpenAI feature refvid does not offer: a clear 404 in this dialect's shape (after
    authentication), where the router would answer a confusing 405 or a FoxAPI-worded 404."""

    async def endpoint(caller: CallerDep) -> Response:
        raise OpenAIError(404, f"video {feature} are not offered by this server's /v1/videos (see docs/openai.md)",
                          "unsupported_endpoint")

    return endpoint


for _path, _method, _feature in (("/v1/videos/{video_id}/remix", "POST", "remixes"),
                                 ("/v1/videos/edits", "POST", "edits"),
                                 ("/v1/videos/extensions", "POST", "extensions"),
                                 ("/v1/videos/characters", "POST", "characters"),
                                 ("/v1/videos/characters/{character_id}", "GET", "characters")):
    router.add_api_route(_path, _unsupported(_feature), methods=[_method], include_in_schema=False)


async def _owned(service: TaskService, owner: str, video_id: str) -> Task:
    """The caller's task; this dialect's 404 for a missing task or another key's."""
    try:
        return await service.get(owner, video_id)
    except NotFound as exc:
        raise not_found(video_id) from exc


def _file_kind(form: CreateForm) -> MediaKind | None:
    """What the uploaded `input_reference` is, from its bytes; 400 naming it when refvid cannot use it."""
    if form.file is None:
        return None
    with form.file.open("rb") as fh:
        fmt = sniff(fh.read(64))
    content_type = CONTENT_TYPES.get(fmt or "")
    if content_type is None:
        raise invalid(FILE_FIELD, "input_reference must be a JPEG, PNG or WebP image (or an MP4/MOV video, an "
                                  "MP3/WAV audio clip)", "unsupported_file_type")
    kind: MediaKind = "image" if content_type.startswith("image/") else \
        "video" if content_type.startswith("video/") else "audio"
    return kind


async def _with_upload(spec: TaskSpec, form: CreateForm, owner: str, runtime: Runtime,
                       request: Request) -> TaskSpec:
    """`spec` with the uploaded `input_reference` stored (as `POST /v1/files/upload/stream` would store it)
    and its URL in the placeholder's place. Done only once the request passed every rule."""
    if form.file is None:
        return spec
    base, file = base_url(request, runtime), form.file
    upload = await UploadSlots.of(request).store(
        lambda: copy_upload(runtime, owner, file, form.filename, base, param=FILE_FIELD))
    await record_uploads(request, [upload])
    stored = upload.file

    def swap(urls: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(stored.url if url == UPLOAD_PLACEHOLDER else url for url in urls)

    return dataclasses.replace(
        spec, image_url=stored.url if spec.image_url == UPLOAD_PLACEHOLDER else spec.image_url,
        image_urls=swap(spec.image_urls), video_urls=swap(spec.video_urls), audio_urls=swap(spec.audio_urls))
