"""Request dependencies: the runtime, the service, and the caller's identity.

Each FastAPI dependency costs more to resolve than most of them cost to run (profiled: four small
dependencies and two parameters took a quarter of a task poll), so the routes that carry this API's traffic
take one, `CallerDep`: the caller's key id, rate-limited, with the runtime and service that serve it. The
create and poll routes take none at all: they call `caller_of(request)` first and read their few parameters
themselves (`query_flag`), documenting them with `openapi_extra` (a task poll costs 15 % less than with the
same parameters declared in its signature)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, ParamSpec, TypeVar

from fastapi import Depends, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, TypeAdapter, ValidationError
from starlette.concurrency import run_in_threadpool

from refvid.api.errors import ApiError
from refvid.api.limits import Limits
from refvid.runtime import Runtime
from refvid.tasks.model import Task
from refvid.tasks.service import TaskService

ModelT = TypeVar("ModelT", bound=BaseModel)
P = ParamSpec("P")
T = TypeVar("T")


async def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


async def get_service(request: Request) -> TaskService:
    service: TaskService = request.app.state.service
    return service


def bearer_key(request: Request) -> str | None:
    """The key of `Authorization: Bearer <key>`, or None when the header is missing or another scheme."""
    scheme, _, key = request.headers.get("authorization", "").partition(" ")
    key = key.strip()
    return key if scheme.lower() == "bearer" and key else None


def authenticated_owner(request: Request) -> str:
    """The caller's key id, after taking one token from its rate-limit bucket. Missing or unknown key → 401;
    an empty bucket → 429 with Retry-After (only when REFVID_RATE_LIMIT_PER_MINUTE is set).

    Runs on the event loop: the key lookup is an in-memory map (the database is read at most once a second,
    for a key not seen yet) and the bucket is a few arithmetic operations."""
    key = bearer_key(request)
    if key is None:
        raise ApiError(401, "missing API key: send 'Authorization: Bearer <key>'", "missing_api_key",
                       headers={"WWW-Authenticate": "Bearer"})
    state = request.app.state
    runtime: Runtime = state.runtime
    owner = runtime.owner_of(key)
    if owner is None:
        raise ApiError(401, "invalid API key", "invalid_api_key", headers={"WWW-Authenticate": "Bearer"})
    limits: Limits = state.limits
    limits.check_rate(owner)
    return owner


@dataclass(frozen=True, slots=True)
class Caller:
    """An authenticated request's key id (`owner`) and the services that answer it."""

    owner: str
    runtime: Runtime
    service: TaskService


def caller_of(request: Request) -> Caller:
    state = request.app.state
    return Caller(authenticated_owner(request), state.runtime, state.service)


async def caller(request: Request) -> Caller:
    return caller_of(request)


async def run_store(runtime: Runtime, call: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """Run a short store call (a read, or a create's one small write transaction): inline on the event loop
    when the store answers from a local file without waiting on a network, else on the thread pool (PostgreSQL,
    whose answers cross a socket). On SQLite a thread-pool hop costs more than the call: WAL readers never wait
    for writers, and this process's writers queue on one lock (other processes' writes hold the file for
    about a millisecond each). Long work (listing, deleting files, calls to providers) still uses the pool."""
    if runtime.store.answers_locally:
        return call(*args, **kwargs)
    return await run_in_threadpool(call, *args, **kwargs)


async def present_polled(caller: Caller, fetch: Callable[[], Task], present: Callable[[Task], ModelT], *,
                         sync_upstream: bool) -> ModelT:
    """A poll's answer, `present(fetch())`, read and built in one store call (one thread-pool hop on
    PostgreSQL). With `sync_upstream`, a relayed task still processing is first refreshed from its provider,
    on the thread pool, never on the event loop."""
    service = caller.service

    def read() -> ModelT | Task:
        task = fetch()
        return task if sync_upstream and service.may_sync_upstream(task) else present(task)

    answer = await run_store(caller.runtime, read)
    if isinstance(answer, Task):
        task = await run_in_threadpool(service.sync_upstream, answer)  # asks the provider over the network
        return await run_store(caller.runtime, present, task)
    return answer


_FLAG: TypeAdapter[bool] = TypeAdapter(bool)
TASK_ID_PARAMETER: dict[str, Any] = {"name": "task_id", "in": "path", "required": True,
                                     "schema": {"type": "string", "title": "Task Id"}}


def query_flag(request: Request, name: str) -> bool:
    """A boolean query parameter read as FastAPI reads a declared `bool` (`true`/`1`/`yes`/`on`, `false`/
    `0`/`no`/`off`, any case; else 422 naming it), for routes that read their parameters themselves."""
    if not request.scope.get("query_string"):  # most polls carry none: skip parsing one
        return False
    raw = request.query_params.get(name)
    if raw is None:
        return False
    try:
        return _FLAG.validate_python(raw)
    except ValidationError as exc:
        raise RequestValidationError([{**error, "loc": ("query", name)} for error in exc.errors()]) from exc


def flag_parameter(name: str, description: str) -> dict[str, Any]:
    """The OpenAPI entry of a `query_flag` (default false)."""
    return {"name": name, "in": "query", "required": False, "description": description,
            "schema": {"type": "boolean", "default": False, "title": name.replace("_", " ").title()}}


def json_response(model: BaseModel, *, exclude_none: bool = False, status_code: int = 200,
                  headers: dict[str, str] | None = None) -> Response:
    """A wire object the code built itself, serialised once: returning the model would have FastAPI validate
    it again against the route's `response_model` (which stays on the route for the OpenAPI document)."""
    body = model.model_dump_json(exclude_none=exclude_none).encode()
    return Response(body, status_code=status_code, media_type="application/json", headers=headers)


CallerDep = Annotated[Caller, Depends(caller)]
RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
ServiceDep = Annotated[TaskService, Depends(get_service)]
