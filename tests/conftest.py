"""Shared fixtures: settings on a temp data dir, loopback media servers, the app on ASGITransport, an
in-process worker, a webhook receiver and dispatcher, and the session's PostgreSQL and SGLang servers. Helpers that
are not fixtures live in `tests.support`."""

from __future__ import annotations

import dataclasses
import functools
import http.server
import os
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from refvid.config import Settings
from refvid.engines.registry import worker_engines
from refvid.runtime import Runtime
from refvid.webhooks.dispatcher import WebhookDispatcher
from refvid.worker.supervisor import Worker, WorkerDeps
from tests.support.apps import api_app
from tests.support.keys import API_KEY, OTHER_KEY
from tests.support.media_servers import MediaServer, PortTrap
from tests.support.pg_server import pg_server  # noqa: F401  (session fixture, shared by every test module)
from tests.support.servers import Server, env_for
from tests.support.sglang_server import sglang_server, sglang_session, stop_run_sglang  # noqa: F401  (session fixture, once per run)
from tests.support.webhooks import Receiver, start_dispatcher

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def pytest_sessionfinish() -> None:
    """The real SGLang server is shared by xdist's workers: the run's owner stops it, once, at the end."""
    stop_run_sglang()


@pytest.fixture
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    """The test settings; a module or test changes them with `pytest.mark.settings(**changes)`."""
    values: dict[str, Any] = {"data_dir": tmp_path / "data", "api_keys": [API_KEY, OTHER_KEY],
                              "fetch_allow_hosts": ["127.0.0.1"], "lease_s": 5, "heartbeat_s": 0.5,
                              "fetch_timeout_s": 10}
    marker = request.node.get_closest_marker("settings")
    if marker is not None:
        values.update(marker.kwargs)
    return Settings(**values)


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
def server() -> Iterator[MediaServer]:
    """A loopback media server with scripted routes that records every request (media and net tests)."""
    srv = MediaServer().start()
    yield srv
    srv.stop()


@pytest.fixture
def refvid_server(tmp_path: Path) -> Iterator[Server]:
    """`refvid serve` in a subprocess, on a fresh data folder with the default test environment."""
    running = Server(tmp_path / "data", env_for()).start()
    yield running
    running.stop()


@pytest.fixture
def trap() -> Iterator[PortTrap]:
    """A port on 127.0.0.1 and ::1 that counts the connections it accepts (must stay 0)."""
    t = PortTrap()
    yield t
    t.close()


@pytest.fixture
def runtime(settings: Settings) -> Iterator[Runtime]:
    rt = Runtime.open(settings)
    yield rt
    rt.close()


@pytest.fixture
async def api(settings: Settings, runtime: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    """The app on ASGITransport, authenticated with API_KEY; no worker."""
    app = api_app(settings, runtime)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://refvid.test",
                                 headers={"Authorization": f"Bearer {API_KEY}"}) as client:
        yield client


@pytest.fixture
def client_for(runtime: Runtime) -> Callable[..., Any]:
    """`async with client_for(**setting_changes) as api:` — an app on the test runtime with other settings."""

    @asynccontextmanager
    async def open_client(key: str = API_KEY, **changes: Any) -> AsyncIterator[httpx.AsyncClient]:
        changed = runtime.settings.model_copy(update=changes)
        app = api_app(changed, dataclasses.replace(runtime, settings=changed))
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://refvid.test",
                                     headers={"Authorization": f"Bearer {key}"}) as client:
            yield client

    return open_client


@pytest.fixture
def worker(settings: Settings, runtime: Runtime) -> Iterator[Worker]:
    """One in-process worker on the same store (engines in spawned children, as in production)."""
    running = Worker(WorkerDeps(settings, runtime.store, runtime.blobs, runtime.waker), worker_engines(settings))
    running.start()
    yield running
    running.stop(grace_s=2.0)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A recording webhook endpoint on 127.0.0.1."""
    running = Receiver()
    yield running
    running.close()


@pytest.fixture
def dispatcher(settings: Settings, runtime: Runtime) -> Iterator[WebhookDispatcher]:
    """Delivery threads on the test runtime (the ASGITransport app runs no lifespan, so none of its own)."""
    running = start_dispatcher(settings, runtime)
    yield running
    running.stop()
