"""Webhook test helpers: a recording receiver on 127.0.0.1, a delivery dispatcher on a test runtime, and
the settings changes that make retries take milliseconds (`FAST_WEBHOOKS`, applied with
`pytest.mark.settings(**FAST_WEBHOOKS)`)."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from refvid.api.routes.webhooks import webhook_renderer
from refvid.config import Settings
from refvid.runtime import Runtime
from refvid.tasks.service import TaskService
from refvid.webhooks.dispatcher import WebhookDispatcher

PUBLIC_URL = "http://refvid.example"

# Webhook retries in milliseconds, and a public URL (so a webhook's `data` and GET /v1/tasks/{id} build the
# same result URLs).
FAST_WEBHOOKS: dict[str, Any] = {"public_url": PUBLIC_URL, "webhook_retry_schedule_s": [0.05] * 7,
                                 "webhook_poll_s": 0.02, "webhook_timeout_s": 5}


@dataclass
class Delivery:
    """One request the receiver got, and the status it answered."""

    headers: dict[str, str]
    body: bytes
    answered: int


class Receiver:
    """A webhook endpoint on 127.0.0.1. It answers with `script` (one status per request, in order), then
    200, and records every request. Paths in `failing` are answered 503 and paths in `hanging` never (until
    closed), neither recorded: one origin that several keys' callbacks share (a webhook relay)."""

    def __init__(self) -> None:
        self.script: list[int] = []
        self.deliveries: list[Delivery] = []
        self.failing: set[str] = set()
        self.hanging: set[str] = set()
        self.refused = 0
        self._cond = threading.Condition()
        self._closed = threading.Event()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                if self.path in receiver.hanging | receiver.failing:
                    receiver.refused += 1
                    if self.path in receiver.hanging:
                        receiver._closed.wait(60)
                    self.send_response(503)
                    self.send_header("content-length", "0")
                    self.end_headers()
                    return
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
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        self.url = f"http://127.0.0.1:{self.port}/hooks/refvid"
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def wait_for(self, count: int, timeout_s: float = 30) -> list[Delivery]:
        """Block until at least `count` requests arrived; return them all."""
        with self._cond:
            self._cond.wait_for(lambda: len(self.deliveries) >= count, timeout=timeout_s)
            assert len(self.deliveries) >= count, f"got {len(self.deliveries)} deliveries, wanted {count}"
            return list(self.deliveries)

    def wait_until(self, done: Callable[[list[Delivery]], bool], timeout_s: float = 30) -> list[Delivery]:
        """Block until `done(deliveries so far)` holds; return them all."""
        with self._cond:
            self._cond.wait_for(lambda: done(list(self.deliveries)), timeout=timeout_s)
            assert done(list(self.deliveries)), f"still waiting after {len(self.deliveries)} deliveries"
            return list(self.deliveries)

    def close(self) -> None:
        self._closed.set()
        self._server.shutdown()
        self._server.server_close()


def start_dispatcher(settings: Settings, runtime: Runtime, threads: int = 2) -> WebhookDispatcher:
    service = TaskService(settings, runtime.store, runtime.blobs, runtime.waker)
    dispatcher = WebhookDispatcher(settings, runtime.store, webhook_renderer(runtime, service), threads=threads)
    dispatcher.start()
    return dispatcher


class HangingReceiver:
    """A webhook endpoint on 127.0.0.1 that reads each request and never answers (until closed); counts them."""

    def __init__(self) -> None:
        self.requests = 0
        self._release = threading.Event()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("content-length", "0")))
                receiver.requests += 1
                receiver._release.wait(60)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/hooks/hang"
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def close(self) -> None:
        self._release.set()
        self._server.shutdown()
        self._server.server_close()
