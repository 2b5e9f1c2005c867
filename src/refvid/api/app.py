"""create_app(): the FastAPI application, its error mapping, and (for `refvid serve`) in-process workers."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from refvid import __version__
from refvid.api.errors import install_error_handlers
from refvid.api.routes import files, models, results, tasks, videos
from refvid.config import Settings
from refvid.engines.registry import worker_engines
from refvid.runtime import Runtime
from refvid.tasks.service import TaskService
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
        try:
            yield
        finally:
            if worker is not None:
                worker.stop(grace_s=5.0)
            maintenance.stop()

    app = FastAPI(title="refvid", version=__version__, description=DESCRIPTION, lifespan=lifespan)
    app.state.runtime = runtime
    app.state.service = TaskService(settings, runtime.store, runtime.blobs, runtime.waker)
    install_error_handlers(app)
    for module in (videos, tasks, models, results, files):
        app.include_router(module.router)
    if (WEB_DIR / "index.html").is_file():
        app.mount("/", StaticFiles(directory=WEB_DIR, html=True), name="web")
    return app
