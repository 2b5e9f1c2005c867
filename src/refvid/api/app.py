"""create_app(): the FastAPI application, its error mapping, and (for `refvid serve`) in-process workers."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.routing import Match, Mount, Route
from starlette.types import Scope

from refvid import __version__
from refvid.api.errors import documented_errors, error_response, install_error_handlers
from refvid.api.limits import Limits, rate_limit
from refvid.api.observability import install_observability
from refvid.api.routes import files, models, results, tasks, videos, webhooks
from refvid.api.routes.webhooks import webhook_renderer
from refvid.config import Settings
from refvid.engines.registry import worker_engines
from refvid.runtime import Runtime
from refvid.tasks.service import TaskService
from refvid.webhooks.dispatcher import WebhookDispatcher
from refvid.worker.maintenance import Maintenance
from refvid.worker.supervisor import Worker, WorkerDeps

log = logging.getLogger(__name__)
WEB_DIR = Path(__file__).resolve().parent.parent / "web"

DESCRIPTION = """Self-hosted, FoxAPI-compatible Seedance 2.0 reference-to-video API.

Send `Authorization: Bearer <key>` on every `/v1/*` route (result and upload URLs are signed instead).
Every error answers `{"error": {"message", "type", "code", "param"}}`."""


def create_app(settings: Settings | None = None, runtime: Runtime | None = None,
               workers: int | None = None) -> FastAPI:
    """Build the app. `workers` in-process workers (default: settings.workers) start with the app's
    lifespan; maintenance (the reaper) always runs with it."""
    settings = settings or Settings()
    runtime = runtime or Runtime.open(settings)
    n_workers = settings.workers if workers is None else workers

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        maintenance = Maintenance(runtime)
        maintenance.start()
        worker = None
        if n_workers > 0:
            deps = WorkerDeps(settings, runtime.store, runtime.blobs, runtime.waker)
            worker = Worker(deps, worker_engines(settings), concurrency=n_workers)
            worker.start()
        app.state.worker = worker
        app.state.webhook_dispatcher.start()
        try:
            yield
        finally:
            app.state.webhook_dispatcher.stop()
            if worker is not None:
                worker.stop(grace_s=5.0)
            maintenance.stop()

    app = FastAPI(title="refvid", version=__version__, description=DESCRIPTION, lifespan=lifespan)
    app.state.runtime = runtime
    app.state.service = TaskService(settings, runtime.store, runtime.blobs, runtime.waker)
    install_error_handlers(app)
    app.add_exception_handler(405, _method_not_allowed)
    app.state.limits = Limits(settings, runtime.store)
    app.state.webhook_dispatcher = WebhookDispatcher(settings, runtime.store,
                                                     webhook_renderer(runtime, app.state.service))
    app.state.webhook_secrets = app.state.webhook_dispatcher.secrets
    install_observability(app, settings, runtime)
    for module in (videos, tasks, models, results, files, webhooks):
        app.include_router(module.router, dependencies=[Depends(rate_limit)], responses=documented_errors(429))
    if (WEB_DIR / "index.html").is_file():
        app.router.routes.append(_WebMount("/", app=StaticFiles(directory=WEB_DIR, html=True), name="web"))
    _document_request_bodies(app)
    return app


class _WebMount(Mount):
    """The playground at `/`, never in front of the API: a wrong method on an API path must answer the
    router's 405 with the route's own `Allow`, and an unknown API path the JSON 404 (found by schemathesis)."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if str(scope.get("path", "")).startswith(("/v1/", "/metrics", "/healthz")):
            return Match.NONE, {}
        return super().matches(scope)


async def _method_not_allowed(request: Request, _: Exception) -> JSONResponse:
    """405 whose `Allow` lists every method of the path: Starlette names only the first route's, and GET
    and DELETE /v1/tasks/{id} are two routes (found by schemathesis)."""
    path = str(request.scope.get("path", ""))
    allowed = sorted({method for route in request.app.router.routes if isinstance(route, Route) and route.methods
                      and route.path_regex.match(path) for method in route.methods})
    return error_response(405, "Method Not Allowed", "method_not_allowed", headers={"Allow": ", ".join(allowed)})


def _document_request_bodies(app: FastAPI) -> None:
    """Routes that read their JSON body themselves (to count its bytes) point `openapi_extra` at their
    request models; put those models in components.schemas so the references resolve (found by schemathesis:
    the create request was missing from /openapi.json)."""
    from refvid.api import schemas

    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            components = build().setdefault("components", {}).setdefault("schemas", {})
            for model in (schemas.CreateVideoRequest, schemas.UploadBase64Request, schemas.UploadUrlRequest):
                schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
                for name, sub_schema in schema.pop("$defs", {}).items():
                    components.setdefault(name, sub_schema)
                components.setdefault(model.__name__, schema)
        return app.openapi_schema or build()

    app.openapi = openapi  # type: ignore[method-assign]
