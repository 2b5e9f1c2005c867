"""Ark's video-generation task API (spec §9) over refvid's task store:

    POST   /api/v3/contents/generations/tasks          create → {"id"}
    GET    /api/v3/contents/generations/tasks/{id}     the task object
    GET    /api/v3/contents/generations/tasks          ?page_num&page_size&filter.status&filter.model&filter.task_ids
                                                       &filter.service_tier
    DELETE /api/v3/contents/generations/tasks/{id}     cancel a queued task / delete a finished one → {}
    GET    /api/v3/results/{id}/last_frame.png         signed, no Authorization (return_last_frame)

Same keys (`Authorization: Bearer`), same tasks, same limits and engines as the FoxAPI dialect: a task created
here is `GET /v1/tasks/{id}` there and the other way round. Every error is Ark-shaped (`ArkRoute`).
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse, RedirectResponse, Response

from refvid import catalog
from refvid.api.ark.errors import ArkError, ArkRoute, invalid, not_found
from refvid.api.ark.frames import last_frame_file
from refvid.api.ark.mapping import load_final_draft, map_create, parse_create
from refvid.api.ark.present import STORED, ark_model, ark_status, present_ark_task
from refvid.api.ark.schemas import ArkCreateRequest, ArkErrorResponse, ArkTask, ArkTaskId, ArkTaskList, inline_schema
from refvid.api.body import read_json_body
from refvid.api.body_strings import body_fingerprint
from refvid.api.deps import (
    TASK_ID_PARAMETER,
    CallerDep,
    RuntimeDep,
    caller_of,
    json_response,
)
from refvid.api.drafts import keep_references
from refvid.api.head import add_head_route
from refvid.api.inline_media import store_inline_media
from refvid.api.limits import Limits
from refvid.api.present import base_url
from refvid.api.store_calls import present_polled
from refvid.contract import (
    ARK_DEFAULT_PAGE_SIZE,
    ARK_LIST_WINDOW_S,
    ARK_MAX_PAGE_SIZE,
    ARK_STATUSES,
    SERVICE_TIERS,
    ArkStatus,
)
from refvid.errors import Conflict, NotFound
from refvid.net.guard import destination_problem
from refvid.tasks.model import Task
from refvid.tasks.service import TaskService

router = APIRouter(route_class=ArkRoute, tags=["Ark dialect"])
TASKS = "/api/v3/contents/generations/tasks"
_SCAN_BATCH = 100  # tasks read per store query while counting a filtered list


def _errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=`: these statuses answer with Ark's error envelope."""
    return {status: {"model": ArkErrorResponse} for status in statuses}


@router.post(TASKS, response_model=ArkTaskId, summary="Create a video generation task (Ark)",
             responses=_errors(400, 401, 403, 404, 413, 429, 503),
             openapi_extra={"requestBody": {"required": True, "content": {"application/json": {
                 "schema": inline_schema(ArkCreateRequest)}}}})
async def create_task(request: Request) -> Response:
    caller = caller_of(request)  # not a dependency: a create's only parameter is its body (api/deps.py)
    owner, runtime, service = caller.owner, caller.runtime, caller.service
    body = await read_json_body(request, runtime.settings.max_body_bytes, {"url": False})  # content[].*.url
    parsed = parse_create(body)
    draft = await load_final_draft(parsed, service, owner)
    submission = map_create(parsed, request.app.state.models, draft)
    submission = replace(submission, spec=await store_inline_media(submission.spec, owner, runtime, request))
    await keep_references(request, owner, submission.spec, runtime.settings.upload_ttl_s)
    callback = submission.spec.callback_url
    problem = destination_problem(runtime.settings, callback) if callback else None
    if problem:
        raise invalid("callback_url", f"{problem}.")
    limits: Limits = request.app.state.limits  # open tasks and credit budget, as in the FoxAPI dialect
    spec, offer = submission.spec, submission.offer
    reserve_s = offer.reserved_seconds(spec.duration, spec.has_timed_references)
    fingerprint = await body_fingerprint(body)
    task, _ = await limits.submit(service, owner, spec, offer.engine, None, fingerprint, reserve_s)
    return json_response(ArkTaskId(id=task.id))


@router.get(f"{TASKS}/{{task_id}}", response_model=ArkTask, response_model_exclude_none=True,
            summary="Retrieve a video generation task (Ark)", responses=_errors(400, 401, 404, 429),
            openapi_extra={"parameters": [TASK_ID_PARAMETER]})
async def get_task(request: Request) -> Response:
    """Polled like the FoxAPI dialect's GET, so built the same way (api/routes/tasks.py); a relayed task
    still processing is refreshed from its provider, as Ark's own GET shows the provider's state."""
    caller = caller_of(request)
    task_id: str = request.path_params["task_id"]
    runtime, service = caller.runtime, caller.service
    base = base_url(request, runtime)
    answer = await present_polled(service, _owned(service, caller.owner, task_id),
                                  lambda task: present_ark_task(task, base, runtime), sync_upstream=True)
    return json_response(answer, exclude_none=True)


@router.get(TASKS, response_model=ArkTaskList, response_model_exclude_none=True,
            summary="List video generation tasks (Ark), newest first", responses=_errors(400, 401, 429))
async def list_tasks(
    request: Request, caller: CallerDep,
    page_num: Annotated[int, Query(ge=1, le=ARK_MAX_PAGE_SIZE)] = 1,
    page_size: Annotated[int, Query(ge=1, le=ARK_MAX_PAGE_SIZE)] = ARK_DEFAULT_PAGE_SIZE,
    status: Annotated[str | None, Query(alias="filter.status")] = None,
    model: Annotated[str | None, Query(alias="filter.model")] = None,
    task_ids: Annotated[list[str] | None, Query(alias="filter.task_ids")] = None,
    service_tier: Annotated[str | None, Query(alias="filter.service_tier")] = None,
) -> ArkTaskList:
    if status is not None and status not in ARK_STATUSES:
        raise invalid("filter.status", f"{status!r} is not one of {', '.join(ARK_STATUSES)}.")
    if service_tier is not None and service_tier not in SERVICE_TIERS:
        raise invalid("filter.service_tier", f"{service_tier!r} is not one of {', '.join(SERVICE_TIERS)}.")
    matching = await _matching(caller.service, caller.owner, status, model, task_ids or [])
    if service_tier is not None:
        matching = [task for task in matching if task.spec.service_tier == service_tier]
    page = matching[(page_num - 1) * page_size: page_num * page_size]
    base = base_url(request, caller.runtime)
    return ArkTaskList(items=[present_ark_task(t, base, caller.runtime) for t in page], total=len(matching))


@router.delete(f"{TASKS}/{{task_id}}", summary="Cancel a queued task or delete a finished one (Ark)",
               responses=_errors(400, 401, 404, 429))
async def delete_task(task_id: str, caller: CallerDep) -> dict[str, str]:
    """As Ark: queued → cancelled; succeeded, failed, expired → deleted with its files; running and
    cancelled tasks can be neither (400). Answers `{}`."""
    owner, service = caller.owner, caller.service
    task = await _owned(service, owner, task_id)
    status = ark_status(task)
    if status == "queued":
        try:
            await service.cancel(owner, task_id)
        except Conflict as exc:  # it started meanwhile
            raise invalid("id", f"task {task_id} is running and cannot be cancelled or deleted.") from exc
    elif status in ("succeeded", "failed", "expired"):
        await service.delete(owner, task_id)
    else:
        raise invalid("id", f"a {status} task cannot be cancelled or deleted.")
    return {}


@router.get("/api/v3/results/{task_id}/last_frame.png", summary="Download a last frame (signed URL)",
            responses={200: {"content": {"image/png": {}}}, **_errors(400, 403, 404, 410, 429)})
def get_last_frame(task_id: str, runtime: RuntimeDep, expires: str | None = None,
                   sig: str | None = None) -> Response:
    key = last_frame_file(runtime, task_id, expires, sig)
    local = runtime.blobs.local_path(key)
    if local is not None:
        return FileResponse(local, media_type="image/png", headers={"Cache-Control": "private, max-age=3600"})
    presigned = runtime.blobs.presigned_url(key, 3600)
    if presigned:
        return RedirectResponse(presigned, status_code=307)
    raise ArkError(404, "ResourceNotFound", f"no last frame for task {task_id}")


add_head_route(router, "/api/v3/results/{task_id}/last_frame.png", get_last_frame)


async def _owned(service: TaskService, owner: str, task_id: str) -> Task:
    """The caller's task; Ark's 404 for a missing task or another key's."""
    try:
        return await service.get(owner, task_id)
    except NotFound as exc:
        raise not_found(task_id) from exc


async def _matching(service: TaskService, owner: str, status: ArkStatus | None, model: str | None,
              task_ids: list[str]) -> list[Task]:
    """Every task of the last 7 days that passes the filters, newest first. `filter.model` matches the model
    id exactly as the task was created with (in either dialect), as Ark matches its endpoint ids."""

    def keep(task: Task) -> bool:
        return (status is None or ark_status(task) == status) and (model is None or ark_model(task) == model)

    if task_ids:
        found = []
        for task_id in dict.fromkeys(task_ids):
            try:
                found.append(await service.get(owner, task_id))
            except NotFound:
                continue
        return sorted(filter(keep, found), key=lambda t: (t.created_at, t.id), reverse=True)
    stored = STORED[status].value if status else None
    store_model = catalog.active().ark_models().get(model, model) if model else None
    cutoff = time.time() - ARK_LIST_WINDOW_S
    matching: list[Task] = []
    after: str | None = None
    while True:
        batch, more = await service.list(owner, stored, store_model, _SCAN_BATCH, after)
        recent = [t for t in batch if t.created_at >= cutoff]
        matching += filter(keep, recent)
        if not more or len(recent) < len(batch) or not batch:
            return matching
        after = batch[-1].id
