"""create_app(): the FastAPI application from the services it is given, and its error mapping."""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Protocol

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.routing import Match, Mount, Route
from starlette.types import Scope

from refvid.api.ark import routes as ark_routes
from refvid.api.edge_asgi import WatchRequests
from refvid.api.errors import error_response, install_error_handlers
from refvid.api.limits import Limits
from refvid.api.observability import install_observability
from refvid.api.openai import routes as openai_routes
from refvid.api.routes import files, results, tasks, videos, webhooks
from refvid.api.routes import models as model_routes
from refvid.api.routes.models import ModelStatus
from refvid.api.store_calls import close_runner
from refvid.config import Settings
from refvid.contract import ModelOffer
from refvid.runtime import Runtime
from refvid.tasks.service import TaskService, UpstreamProbe
from refvid.tasks.store import open_async_runner
from refvid.version import __version__
from refvid.webhooks.secrets import WebhookSecrets

log = logging.getLogger(__name__)
WEB_DIR = Path(__file__).resolve().parent.parent / "web"

DESCRIPTION = """Self-hosted, FoxAPI-compatible Seedance 2.0 reference-to-video API.

Send `Authorization: Bearer <key>` on every `/v1/*` route (result and upload URLs are signed instead).
Every error answers `{"error": {"message", "type", "code", "param"}}`."""


class Background(Protocol):
    """A service that runs beside the API for the app's lifetime (embedded workers, maintenance, webhooks)."""

    def start(self) -> None: ...

    def stop(self) -> None: ...


def create_app(settings: Settings, runtime: Runtime, models: Mapping[str, ModelOffer], *,
               upstream: UpstreamProbe | None = None, background: Sequence[Background] = (),
               model_status: ModelStatus | None = None) -> FastAPI:
    """Build the app from its services: the runtime (store, blobs, keys), the models this deployment serves
    (`models`, from the engine registry), how to ask a provider about a relayed task (`upstream`), and the
    services to run for the app's lifetime (`background`, started in order and stopped in reverse). The app
    starts no worker of its own: the composition root (`refvid serve`) decides what runs beside it."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        started: list[Background] = []
        try:
            for service in background:
                service.start()
                started.append(service)
            # Everything built so far (modules, the app, its schemas) lives as long as the process: move it
            # out of the collector's reach, so that a full collection does not walk it while requests wait.
            gc.collect()
            gc.freeze()
            yield
        finally:
            for service in reversed(started):
                service.stop()
            await close_runner(app.state)

    app = FastAPI(title="refvid", version=__version__, description=DESCRIPTION, lifespan=lifespan)
    app.state.runtime = runtime
    app.state.models = dict(models)
    app.state.model_status = model_status  # live facts merged into GET /v1/models (upstream health, in flight)
    app.state.store_runner = runner = open_async_runner(runtime.store)  # how routes call the store: store_calls
    app.state.service = TaskService(settings, runtime.store, runtime.blobs, runtime.waker, upstream=upstream,
                                    runner=runner)
    install_error_handlers(app)
    app.add_exception_handler(405, _method_not_allowed)
    app.state.limits = Limits(settings, runtime.store)
    app.state.webhook_secrets = WebhookSecrets(runtime.store, settings.webhook_secret_grace_s)
    install_observability(app, settings, runtime)
    app.add_middleware(WatchRequests)  # the edge's deadlines and header limits need request boundaries
    # The routes go straight into the app's route table, the Ark (§9) and OpenAI (§10) dialects' last (an
    # OpenAI route never matches FoxAPI's `/v1/videos/generations`: api/openai/errors.py). `include_router`
    # would wrap each router in a branch that FastAPI matches twice per request (5 % of a task poll), and
    # these routers have no prefix or dependencies for it to apply.
    for module in (videos, tasks, model_routes, results, files, webhooks, ark_routes, openai_routes):
        app.router.routes.extend(module.router.routes)
    if (WEB_DIR / "index.html").is_file():
        app.router.routes.append(_WebMount("/", app=StaticFiles(directory=WEB_DIR, html=True), name="web"))
    _document_request_bodies(app)
    return app


class _WebMount(Mount):
    """The playground at `/`, never in front of the API: a wrong method on an API path must answer the
    router's 405 with the route's own `Allow`, and an unknown API path the JSON 404 (found by schemathesis)."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if str(scope.get("path", "")).startswith(("/v1/", "/api/", "/metrics", "/healthz")):
            return Match.NONE, {}
        return super().matches(scope)


async def _method_not_allowed(request: Request, _: Exception) -> JSONResponse:
    """405 whose `Allow` lists every method of the path: Starlette names only the first route's, and GET
    and DELETE /v1/tasks/{id} are two routes (found by schemathesis)."""
    path = str(request.scope.get("path", ""))
    matching = [route for route in request.app.router.routes
                if isinstance(route, Route) and route.methods and route.path_regex.match(path)]
    # The path's own routes: those of the first template that matches (`/v1/files/upload/stream` is not also
    # `/v1/files/{file_id}/{name}`, whose GET the document lists under that template only).
    template = matching[0].path if matching else None
    allowed = sorted({method for route in matching if route.path == template for method in route.methods or ()})
    return error_response(405, "Method Not Allowed", "method_not_allowed", headers={"Allow": ", ".join(allowed)})


def _document_request_bodies(app: FastAPI) -> None:
    """Routes that read their JSON body themselves (to count its bytes) point `openapi_extra` at their
    request models; put those models in components.schemas so the references resolve (found by schemathesis:
    the create request was missing from /openapi.json)."""
    from refvid.api import schemas
    from refvid.api.openai.schemas import OpenAICreateRequest

    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            components = build().setdefault("components", {}).setdefault("schemas", {})
            for model in (schemas.CreateVideoRequest, schemas.UploadBase64Request, schemas.UploadUrlRequest,
                          OpenAICreateRequest):
                schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
                for name, sub_schema in schema.pop("$defs", {}).items():
                    components.setdefault(name, sub_schema)
                components.setdefault(model.__name__, schema)
        return app.openapi_schema or build()

    app.openapi = openapi  # type: ignore[method-assign]
