"""Shared fixtures: settings on a temp data dir, a loopback media server, the app on ASGITransport,
and an in-process worker."""

from __future__ import annotations

import functools
import http.server
import os
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from refvid.api.app import create_app
from refvid.config import Settings
from refvid.engines.registry import worker_engines
from refvid.runtime import Runtime
from refvid.worker.supervisor import Worker, WorkerDeps

os.environ.setdefault("HF_HUB_OFFLINE", "1")
API_KEY = "test-key"
OTHER_KEY = "other-key"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", api_keys=[API_KEY, OTHER_KEY], fetch_allow_hosts=["127.0.0.1"],
                    lease_s=5, heartbeat_s=0.5, fetch_timeout_s=10)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def media_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """(base URL, folder): files written to the folder are served on 127.0.0.1."""
    folder = tmp_path / "served"
    folder.mkdir()
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", folder
    server.shutdown()
    server.server_close()


@pytest.fixture
def runtime(settings: Settings) -> Iterator[Runtime]:
    rt = Runtime.open(settings)
    yield rt
    rt.close()


@pytest.fixture
async def api(settings: Settings, runtime: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    """The app on ASGITransport, authenticated with API_KEY; no worker."""
    app = create_app(settings, runtime=runtime, workers=0)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://refvid.test",
                                 headers={"Authorization": f"Bearer {API_KEY}"}) as client:
        yield client


@pytest.fixture
def worker(settings: Settings, runtime: Runtime) -> Iterator[Worker]:
    """One in-process worker on the same store (engines in spawned children, as in production)."""
    running = Worker(WorkerDeps(settings, runtime.store, runtime.blobs, runtime.waker), worker_engines(settings))
    running.start()
    yield running
    running.stop(grace_s=2.0)
