"""GET/cancel/list/delete tasks (spec §4, §5). Sync handlers: FastAPI runs them in its thread pool."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request

from refvid.api.deps import Owner, RuntimeDep, ServiceDep
from refvid.api.errors import documented_errors
from refvid.api.present import present_task
from refvid.api.schemas import TaskDeleted, TaskList, TaskObject

router = APIRouter()
ERRORS = documented_errors(401, 404, 409, 422)
StatusFilter = Literal["pending", "processing", "completed", "failed", "cancelled"]


@router.get("/v1/tasks/{task_id}", response_model=TaskObject, responses=ERRORS, summary="Get a task")
def get_task(task_id: str, request: Request, owner: Owner, runtime: RuntimeDep, service: ServiceDep,
             sync_upstream: bool = False) -> TaskObject:
    """`sync_upstream=true` refreshes relayed tasks from the provider; harmless for local engines."""
    task = service.get(owner, task_id)
    if sync_upstream:
        task = service.sync_upstream(task)
    return present_task(task, request, runtime, service)


@router.post("/v1/tasks/{task_id}/cancel", response_model=TaskObject, responses=ERRORS, summary="Cancel a task")
def cancel_task(task_id: str, request: Request, owner: Owner, runtime: RuntimeDep,
                service: ServiceDep) -> TaskObject:
    return present_task(service.cancel(owner, task_id), request, runtime, service)


@router.get("/v1/tasks", response_model=TaskList, responses=ERRORS, summary="List tasks, newest first")
def list_tasks(request: Request, owner: Owner, runtime: RuntimeDep, service: ServiceDep,
               status: StatusFilter | None = None, model: str | None = None,
               limit: Annotated[int, Query(ge=1, le=100)] = 20, after: str | None = None) -> TaskList:
    tasks, has_more = service.list(owner, status, model, limit, after)
    data = [present_task(t, request, runtime, service) for t in tasks]
    return TaskList(data=data, has_more=has_more, last_id=tasks[-1].id if tasks else None)


@router.delete("/v1/tasks/{task_id}", response_model=TaskDeleted, responses=ERRORS, summary="Delete a task")
def delete_task(task_id: str, owner: Owner, service: ServiceDep) -> TaskDeleted:
    """Only terminal tasks; their files are removed too."""
    service.delete(owner, task_id)
    return TaskDeleted(id=task_id)
