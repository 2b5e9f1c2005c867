"""Fixtures of the hardening tests: fast webhook retries, a recording webhook receiver on 127.0.0.1, a
delivery dispatcher on the test runtime, and helpers to build apps with other settings."""

from __future__ import annotations

import dataclasses
import http.server
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from refvid.api.app import create_app
from refvid.api.routes.webhooks import webhook_renderer
from refvid.config import Settings
from refvid.runtime import Runtime
from refvid.tasks.service import TaskService
from refvid.webhooks.dispatcher import WebhookDispatcher
from tests.conftest import API_KEY, OTHER_KEY

MODEL = "seedance-2.0-fast-reference-to-video"
PUBLIC_URL = "http://refvid.example"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """The shared test settings, with webhook retries in milliseconds and a public URL (so a webhook's
    `data` and GET /v1/tasks/{id} build the same result URLs)."""
    return Settings(data_dir=tmp_path / "data", api_keys=[API_KEY, OTHER_KEY], fetch_allow_hosts=["127.0.0.1"],
                    lease_s=5, heartbeat_s=0.5, fetch_timeout_s=10, public_url=PUBLIC_URL,
                    webhook_retry_schedule_s=[0.05] * 7, webhook_poll_s=0.02, webhook_timeout_s=5)


def create_body(callback_url: str | None = None, **changes: Any) -> dict[str, Any]:
    """A valid create request; its reference is never fetched by tests that run no worker."""
    body: dict[str, Any] = {"model": MODEL, "prompt": "@Image1 in the rain", "resolution": "480p",
                            "ratio": "16:9", "duration": 4, "image_urls": ["http://127.0.0.1:9/a.png"]}
    if callback_url is not None:
        body["callback_url"] = callback_url
    body.update(changes)
    return body


@dataclass
class Delivery:
    """One request the receiver got, and the status it answered."""

    headers: dict[str, str]
    body: bytes
    answered: int


class Receiver:
    """A webhook endpoint on 127.0.0.1. It answers with `script` (one status per request, in order), then
    200, and records every request."""

    def __init__(self) -> None:
        self.script: list[int] = []
        self.deliveries: list[Delivery] = []
        self._cond = threading.Condition()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                with receiver._cond:
                    status = receiver.script.pop(0) if receiver.script else 200
                    receiver.deliveries.append(Delivery({k.lower(): v for k, v in self.headers.items()}, body,
                                                        status))
                    receiver._cond.notify_all()
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = int(self._server.server_address[1])
        self.url = f"http://127.0.0.1:{self.port}/hooks/refvid"
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def wait_for(self, count: int, timeout_s: float = 30) -> list[Delivery]:
        """Block until at least `count` requests arrived; return them all."""
        with self._cond:
            self._cond.wait_for(lambda: len(self.deliveries) >= count, timeout=timeout_s)
            assert len(self.deliveries) >= count, f"got {len(self.deliveries)} deliveries, wanted {count}"
            return list(self.deliveries)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    running = Receiver()
    yield running
    running.close()


def start_dispatcher(settings: Settings, runtime: Runtime, threads: int = 2) -> WebhookDispatcher:
    service = TaskService(settings, runtime.store, runtime.blobs, runtime.waker)
    dispatcher = WebhookDispatcher(settings, runtime.store, webhook_renderer(runtime, service), threads=threads)
    dispatcher.start()
    return dispatcher


@pytest.fixture
def dispatcher(settings: Settings, runtime: Runtime) -> Iterator[WebhookDispatcher]:
    """Delivery threads on the test runtime (the ASGITransport app runs no lifespan, so none of its own)."""
    running = start_dispatcher(settings, runtime)
    yield running
    running.stop()



@pytest.fixture
def client_for(runtime: Runtime) -> Callable[..., Any]:
    """`async with client_for(**setting_changes) as api:` — an app on the test runtime with other settings."""
    from contextlib import asynccontextmanager

    @asynccontextmanager
    async def open_client(key: str = API_KEY, **changes: Any) -> AsyncIterator[httpx.AsyncClient]:
        changed = runtime.settings.model_copy(update=changes)
        app = create_app(changed, runtime=dataclasses.replace(runtime, settings=changed), workers=0)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://refvid.test",
                                     headers={"Authorization": f"Bearer {key}"}) as client:
            yield client

    return open_client
