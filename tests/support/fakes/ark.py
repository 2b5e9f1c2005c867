"""A fake of ByteDance's Ark video-generation task API (BytePlus ModelArk / Volcengine Ark), faithful to the
documented contract and strict about it, so that a relay mistake fails a test instead of a paid request.

    with FakeArk() as ark:                       # http://127.0.0.1:<port>/api/v3
        ark.plan(outcome="failed", error_code="OutputVideoSensitiveContentDetected")
        ark.throttle(3, retry_after="0")         # the next 3 API calls answer 429
        ...
        ark.creates                              # every POSTed body, in order
        ark.requests                             # every request, downloads included

Contract: `POST /contents/generations/tasks` → `{"id": "cgt-…"}`; `GET …/tasks/{id}` → the task object
(`status` queued → running → succeeded | failed | expired, `content.video_url` once succeeded, `seed`,
`resolution`, `ratio`, `duration`, `framespersecond`, `usage`, `error {code, message}`); `DELETE …/tasks/{id}`
cancels a queued task, deletes the record of a finished one, and is refused while running. Errors use the
`{"error": {"code", "message", "type"}}` envelope with Ark's HTTP statuses. Status follows the clock: a task
stays queued `queued_ms`, runs `running_ms`, then ends with the planned outcome (or waits for `release`).
"""

from __future__ import annotations

import json
import re
import secrets
import tempfile
import threading
import time
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from tests.support.fakes.ark_contract import ArkReject, validate_create

TASKS = "/api/v3/contents/generations/tasks"


@dataclass(frozen=True)
class Plan:
    """How the next tasks behave. `seed`/`ratio`/`duration` None: echo the request (adaptive → 16:9,
    -1 → 5 s, seed -1 → a drawn one)."""

    outcome: str = "succeeded"  # succeeded | failed | expired
    queued_ms: int = 30
    running_ms: int = 60
    hold: bool = False  # stay queued until release()
    error_code: str = "InternalServiceError"
    error_message: str = "the service encountered an unexpected internal error"
    seed: int | None = None
    ratio: str | None = None
    duration: int | None = None


@dataclass
class FakeTask:
    id: str
    body: dict[str, Any]
    plan: Plan
    created_at: float
    released_at: float | None = None
    cancelled: bool = False


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: Any


@dataclass
class FakeArk:
    api_key: str = "x"
    video: bytes | None = None
    latency_ms: int = 0
    requests: list[Recorded] = field(default_factory=list)
    tasks: dict[str, FakeTask] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._plan, self._next_plans = Plan(), list[Plan]()
        self._errors: list[tuple[int, str, str, str | None, str | None]] = []  # status, code, type, retry, method
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self.root = f"http://127.0.0.1:{self._server.server_address[1]}"
        self.base_url = f"{self.root}/api/v3"

    # -- scripting ----------------------------------------------------------------------------------
    def plan(self, **changes: Any) -> None:
        """Change how every later task behaves."""
        self._plan = replace(self._plan, **changes)

    def plan_next(self, **changes: Any) -> None:
        """Behaviour of the next created task only (queued in order)."""
        self._next_plans.append(replace(self._plan, **changes))

    def throttle(self, count: int, retry_after: str | None = "0", method: str | None = None) -> None:
        """The next `count` API calls (of `method`, if given) answer 429 RateLimitExceeded."""
        self._errors += [(429, "RateLimitExceeded.EndpointRPMExceeded", "TooManyRequests", retry_after, method)] * count

    def fail_requests(self, count: int, status: int = 500, method: str | None = None) -> None:
        """The next `count` API calls answer a server error."""
        code = "ServerOverloaded" if status == 503 else "InternalServiceError"
        self._errors += [(status, code, "InternalServerError", None, method)] * count

    def release(self, task_id: str) -> None:
        """Let a held task start running now."""
        self.tasks[task_id].released_at = time.monotonic()

    @property
    def creates(self) -> list[dict[str, Any]]:
        return [r.body for r in self.requests if r.method == "POST" and r.path == TASKS]

    def calls(self, method: str) -> list[Recorded]:
        return [r for r in self.requests if r.method == method and r.path.startswith(TASKS)]

    def status(self, task_id: str) -> str:
        task = self.tasks[task_id]
        if task.cancelled:
            return "cancelled"
        start = task.released_at if task.plan.hold else task.created_at
        if start is None:
            return "queued"
        elapsed_ms = (time.monotonic() - start) * 1000
        if elapsed_ms < (0 if task.plan.hold else task.plan.queued_ms):
            return "queued"
        if elapsed_ms < (0 if task.plan.hold else task.plan.queued_ms) + task.plan.running_ms:
            return "running"
        return task.plan.outcome

    # -- lifecycle ----------------------------------------------------------------------------------
    def start(self) -> FakeArk:
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FakeArk:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- the API ------------------------------------------------------------------------------------
    def handle(self, method: str, path: str, headers: dict[str, str], body: Any) -> tuple[int, Any, dict[str, str]]:
        if path.startswith("/videos/"):
            return 200, self.video_bytes(), {"Content-Type": "video/mp4"}
        if headers.get("authorization") != f"Bearer {self.api_key}":
            raise ArkReject(401, "AuthenticationError", "The API key in the request is missing or invalid.",
                            "Unauthorized")
        with self._lock:
            for i, (status, code, kind, retry_after, only) in enumerate(self._errors):
                if only in (None, method):
                    del self._errors[i]
                    extra = {"Retry-After": retry_after} if retry_after is not None else {}
                    return status, _envelope(code, f"injected {status}", kind), extra
        if self.latency_ms:
            time.sleep(self.latency_ms / 1000)
        if method == "POST" and path == TASKS:
            return 200, {"id": self._create(body)}, {}
        match = re.fullmatch(rf"{TASKS}/([\w-]+)", path)
        if match is None or match.group(1) not in self.tasks:
            raise ArkReject(404, "ResourceNotFound", "The specified task is not found.", "NotFound")
        task_id = match.group(1)
        if method == "GET":
            return 200, self._task_object(self.tasks[task_id]), {}
        if method == "DELETE":
            return 200, self._delete(task_id), {}
        raise ArkReject(405, "MethodNotAllowed", f"{method} is not supported", "MethodNotAllowed")

    def _create(self, body: Any) -> str:
        validate_create(body)
        task_id = f"cgt-{time.strftime('%Y%m%d%H%M%S')}-{secrets.token_hex(3)}"
        with self._lock:
            plan = self._next_plans.pop(0) if self._next_plans else self._plan
            self.tasks[task_id] = FakeTask(task_id, body, plan, time.monotonic())
        return task_id

    def _delete(self, task_id: str) -> dict[str, Any]:
        status = self.status(task_id)
        if status == "queued":
            self.tasks[task_id].cancelled = True
        elif status in ("running", "cancelled"):
            raise ArkReject(400, "InvalidParameter", f"a {status} task cannot be cancelled or deleted")
        else:
            del self.tasks[task_id]
        return {}

    def _task_object(self, task: FakeTask) -> dict[str, Any]:
        status, body, plan = self.status(task.id), task.body, task.plan
        seed = plan.seed if plan.seed is not None else body.get("seed", -1)
        ratio = plan.ratio or body.get("ratio", "adaptive")
        duration = plan.duration if plan.duration is not None else body.get("duration", 5)
        created = int(time.time())
        out: dict[str, Any] = {
            "id": task.id, "model": body["model"], "status": status, "error": None,
            "created_at": created, "updated_at": created,
            "seed": seed if seed >= 0 else int(task.id.encode().hex()[-6:], 16),
            "resolution": body.get("resolution", "720p"), "ratio": "16:9" if ratio == "adaptive" else ratio,
            "duration": 5 if duration == -1 else duration, "framespersecond": 24,
            "generate_audio": body.get("generate_audio", True), "service_tier": "default",
            "execution_expires_after": 172800,
        }
        if status == "succeeded":
            out["content"] = {"video_url": f"{self.root}/videos/{task.id}.mp4?X-Tos-Expires=86400&X-Tos-Sig=abc"}
            out["usage"] = {"completion_tokens": 108900, "total_tokens": 108900}
        if status == "failed":
            out["error"] = {"code": plan.error_code, "message": plan.error_message}
        return out

    def video_bytes(self) -> bytes:
        if self.video is None:
            from tests.support import media_factory as mf

            with tempfile.TemporaryDirectory() as folder:
                path = mf.make_video(Path(folder) / "out.mp4", 320, 240, seconds=2.0, with_audio=True)
                self.video = path.read_bytes()
        return self.video


def _envelope(code: str, message: str, kind: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": f"{message} Request id: fake", "param": "", "type": kind}}


def _handler(ark: FakeArk) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            pass

        def _serve(self) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                body = raw.decode("latin-1")
            headers = {k.lower(): v for k, v in self.headers.items()}
            ark.requests.append(Recorded(self.command, parts.path, parts.query, headers, body))
            try:
                status, payload, extra = ark.handle(self.command, parts.path, headers, body)
            except ArkReject as exc:
                status, payload, extra = exc.status, _envelope(exc.code, exc.message, exc.kind), {}
            except Exception as exc:  # a bug in the fake must show up as an answer, not a hang
                status, payload, extra = 500, _envelope("FakeBug", repr(exc), "InternalServerError"), {}
            data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", extra.pop("Content-Type", "application/json"))
            self.send_header("Content-Length", str(len(data)))
            for key, value in extra.items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_DELETE = _serve

    return Handler
