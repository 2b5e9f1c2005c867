"""GET/cancel/list/delete tasks (spec §4, §5).

Polling is this API's dominant traffic, so these handlers are async: their store calls follow
`api/store_calls.py`, and the task object is serialised once (`json_response`)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response

from refvid.api.deps import (
    TASK_ID_PARAMETER,
    CallerDep,
    caller_of,
    flag_parameter,
    json_response,
    query_flag,
)
from refvid.api.errors import documented_errors
from refvid.api.present import base_url, present_task_at
from refvid.api.routing import LeanRoute
from refvid.api.schemas import TaskDeleted, TaskList, TaskObject
from refvid.api.store_calls import present_fresh, present_polled

router = APIRouter(route_class=LeanRoute, responses=documented_errors(429))  # 429: rate limits
ERRORS = documented_errors(401, 404, 409, 422)
StatusFilter = Literal["pending", "processing", "completed", "failed", "cancelled"]


SYNC_UPSTREAM = "refresh a relayed task from its provider; harmless for local engines"


@router.get("/v1/tasks/{task_id}", response_model=TaskObject, responses=ERRORS, summary="Get a task",
            openapi_extra={"parameters": [TASK_ID_PARAMETER, flag_parameter("sync_upstream", SYNC_UPSTREAM)]})
async def get_task(request: Request) -> Response:
    """`sync_upstream=true` refreshes relayed tasks from the provider; harmless for local engines.

    This API's most frequent request: no dependency and no declared parameter (see api/deps.py)."""
    caller = caller_of(request)
    task_id: str = request.path_params["task_id"]
    sync_upstream = query_flag(request, "sync_upstream")
    runtime, service = caller.runtime, caller.service
    base = base_url(request, runtime)
    answer = await present_polled(service, service.get(caller.owner, task_id),
                                  lambda task: present_task_at(task, base, runtime, service),
                                  sync_upstream=sync_upstream)
    return json_response(answer)


@router.post("/v1/tasks/{task_id}/cancel", response_model=TaskObject, responses=ERRORS, summary="Cancel a task")
async def cancel_task(task_id: str, request: Request, caller: CallerDep) -> Response:
    runtime, service = caller.runtime, caller.service
    task = await service.cancel(caller.owner, task_id)
    base = base_url(request, runtime)
    return json_response(await present_fresh(service, task, lambda t: present_task_at(t, base, runtime, service)))


@router.get("/v1/tasks", response_model=TaskList, responses=ERRORS, summary="List tasks, newest first")
async def list_tasks(request: Request, caller: CallerDep, status: StatusFilter | None = None, model: str | None = None,
                     limit: Annotated[int, Query(ge=1, le=100)] = 20, after: str | None = None) -> Response:
    runtime, service = caller.runtime, caller.service

    tasks, has_more = await service.list(caller.owner, status, model, limit, after)
    base = base_url(request, runtime)
    data = [await present_fresh(service, t, lambda t: present_task_at(t, base, runtime, service)) for t in tasks]
    return json_response(TaskList(data=data, has_more=has_more, last_id=tasks[-1].id if tasks else None))


@router.delete("/v1/tasks/{task_id}", response_model=TaskDeleted, responses=ERRORS, summary="Delete a task")
async def delete_task(task_id: str, caller: CallerDep) -> TaskDeleted:
    """Only terminal tasks; their files are removed too."""
    await caller.service.delete(caller.owner, task_id)
    return TaskDeleted(id=task_id)
