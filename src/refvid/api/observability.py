"""Request ids and Prometheus metrics for the API.

- Every HTTP answer carries `X-Request-ID`: the caller's own (1–128 characters of `[A-Za-z0-9._:/+=-]`,
  anything else is replaced) or a fresh one. It is bound to the log records of the request (`request_id`).
- `GET /metrics` (Prometheus text format, no API key: it shows aggregate counts only; switch it off with
  REFVID_METRICS_ENABLED=false or keep it behind the proxy) serves the metrics of `refvid.metrics` plus
  the queue state and the garbage collection backlog read from the database at scrape time.
"""

from __future__ import annotations

import functools
import itertools
import re
import secrets
import time
from typing import Any

from fastapi import APIRouter, FastAPI, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from refvid.config import Settings
from refvid.metrics import (
    HTTP_REQUESTS,
    HTTP_SECONDS,
    REQUEST_ID,
    BacklogCollector,
    StoreCollector,
    install_log_context,
)
from refvid.runtime import Runtime
from refvid.tasks.collection import collection_backlog

REQUEST_ID_HEADER = "X-Request-ID"
_REQUEST_ID_NAME = REQUEST_ID_HEADER.lower().encode()
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:/+=-]{1,128}$")

router = APIRouter()


# New request ids: a random per-process prefix and a counter. Unique across processes and restarts like a
# uuid4, at a fraction of its cost on every request.
_ID_PREFIX = secrets.token_hex(6)
_ID_COUNTER = itertools.count(1)


def request_id_from(incoming: str | None) -> str:
    """The caller's request id when it is safe to echo and log, else a new one."""
    if incoming and _VALID_REQUEST_ID.match(incoming):
        return incoming
    return f"{_ID_PREFIX}{next(_ID_COUNTER):020x}"  # 32 hex digits, like a uuid4 hex


def _incoming_request_id(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == b"x-request-id":
            return str(value.decode("latin-1"))
    return None


class RequestContextMiddleware:
    """Pure ASGI middleware: binds the request id, echoes it, and counts the request by route template."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = request_id_from(_incoming_request_id(scope))
        token = REQUEST_ID.set(request_id)
        status, started = 500, time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                headers = [h for h in message.get("headers", ()) if h[0].lower() != _REQUEST_ID_NAME]
                message["headers"] = [*headers, (_REQUEST_ID_NAME, request_id.encode("latin-1"))]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            REQUEST_ID.reset(token)
            # Route templates, never raw paths: ids in paths would make one series per task.
            route = getattr(scope.get("route"), "path", None)
            template = (route or "/") if scope.get("route") is not None else "unmatched"
            counter, timer = _series(str(scope.get("method", "GET")), template, status)
            counter.inc()
            timer.observe(time.perf_counter() - started)


_SERIES: dict[tuple[str, str, int], tuple[Any, Any]] = {}


def _series(method: str, template: str, status: int) -> tuple[Any, Any]:
    """The request counter and timer of one (method, route template, status): `labels()` validates and locks
    on every call, so each pair is looked up once (their number is bounded by the routes)."""
    found = _SERIES.get((method, template, status))
    if found is None:
        found = _SERIES[(method, template, status)] = (HTTP_REQUESTS.labels(method, template, str(status)),
                                                       HTTP_SECONDS.labels(method, template))
    return found


@router.get("/metrics", include_in_schema=False)
def metrics(request: Request) -> Response:
    """Prometheus scrape endpoint."""
    registry: CollectorRegistry = request.app.state.metrics_registry
    body = generate_latest(REGISTRY) + generate_latest(registry)
    return Response(body, media_type=CONTENT_TYPE_LATEST)


def install_observability(app: FastAPI, settings: Settings, runtime: Runtime) -> None:
    """Request ids on every answer, task/request ids on log records, and (if enabled) GET /metrics."""
    install_log_context()
    app.add_middleware(RequestContextMiddleware)
    if settings.metrics_enabled:
        registry = CollectorRegistry(auto_describe=True)
        registry.register(StoreCollector(runtime.store.count_by_status))
        registry.register(BacklogCollector(functools.partial(collection_backlog, runtime.store, settings.result_ttl_s)))
        app.state.metrics_registry = registry
        app.include_router(router)
