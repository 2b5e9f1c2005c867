"""The machinery shared by the fakes of the `/v1/videos` serving engines (vLLM-Omni, SGLang Diffusion): a
Starlette app on uvicorn in a thread (so multipart bodies are parsed by python-multipart, as the real FastAPI
servers parse them), a job store kept in memory like theirs, a clock that moves each job from queued to its
end, and the misbehaviours the tests need:

    fake.plan(run_s=2.0)                 # later jobs run this long (outcome="failed", message=… to fail them)
    fake.hold()/fake.release_all()       # jobs stay running until released
    fake.burst(5, status=502)            # the next 5 requests answer 502 with no job body
    fake.refuse()                        # stop listening: connections are refused
    fake.restart()                       # listen again on the same port, every job forgotten (404)

Recorded: `creates` (every accepted create: fields + files in order), `deletes`, `requests` (method, path),
and `peak_open` (the most jobs queued or running at once).
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from dataclasses import dataclass
from typing import Any, Self

import uvicorn
from starlette.applications import Starlette
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route


@dataclass
class Part:
    """One uploaded file of a multipart create, in the order received."""

    field: str
    filename: str
    content_type: str
    data: bytes


async def read_form(request: Request) -> tuple[dict[str, Any], list[Part]]:
    """A multipart create's text fields and its files, in the order received (both fakes' `/v1/videos`)."""
    fields: dict[str, Any] = {}
    files: list[Part] = []
    for key, value in (await request.form()).multi_items():
        if isinstance(value, UploadFile):
            files.append(Part(key, value.filename or "", value.content_type or "", await value.read()))
            await value.close()
        else:
            fields[key] = value
    return fields, files


@dataclass
class FakeJob:
    id: str
    fields: dict[str, Any]
    files: list[Part]
    created_at: float
    run_s: float
    outcome: str
    message: str
    held: bool
    deleted: bool = False
    released_at: float | None = None

    def finished_at(self) -> float | None:
        if self.deleted:
            return self.created_at
        if self.held:
            return None if self.released_at is None else self.released_at
        return self.created_at + self.run_s

    def status(self, now: float) -> str:
        end = self.finished_at()
        if end is not None and now >= end:
            return self.outcome
        return "queued" if now - self.created_at < min(0.05, self.run_s / 4) else "in_progress"


@dataclass
class Plan:
    run_s: float = 0.3
    outcome: str = "completed"
    message: str = "CUDA out of memory"
    held: bool = False


class FakeVideosServer:
    """Subclasses answer the four routes (`create`, `retrieve`, `delete`, `content`) as their server does."""

    def __init__(self, video: bytes, served_model: str = "test-model", api_key: str | None = None):
        self.video, self.served_model, self.api_key = video, served_model, api_key
        self.jobs: dict[str, FakeJob] = {}
        self.creates: list[FakeJob] = []
        self.deletes: list[str] = []
        self.requests: list[tuple[str, str]] = []
        self.peak_open = 0
        self._plan = Plan()
        self._bursts: list[int] = []
        self._lock = threading.Lock()
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = int(probe.getsockname()[1])
        self.url = f"http://127.0.0.1:{self.port}"
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    # -- scripting ------------------------------------------------------------------------------------
    def plan(self, **changes: Any) -> None:
        for key, value in changes.items():
            setattr(self._plan, key, value)

    def release_all(self) -> None:
        with self._lock:
            for job in self.jobs.values():
                if job.held and job.released_at is None:
                    job.released_at = time.monotonic()
        self.plan(held=False)

    def burst(self, count: int, status: int = 502) -> None:
        self._bursts += [status] * count

    def open_jobs(self, now: float | None = None) -> int:
        now = time.monotonic() if now is None else now
        return sum(1 for job in self.jobs.values() if job.status(now) in ("queued", "in_progress"))

    # -- lifecycle ------------------------------------------------------------------------------------
    def start(self) -> Self:
        app = Starlette(routes=self.routes())
        app.add_middleware(_Gate, fake=self)
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            assert time.monotonic() < deadline, "fake upstream did not start"
            time.sleep(0.02)
        return self

    def refuse(self) -> None:
        """Stop listening (connections are refused from now on); the jobs stay in memory."""
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(10)
            self._server = None

    def restart(self) -> None:
        """A restarted server process: listening again on the same port, its in-memory jobs gone."""
        self.refuse()
        with self._lock:
            self.jobs.clear()
        self.start()

    def stop(self) -> None:
        self.refuse()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- for subclasses -------------------------------------------------------------------------------
    def routes(self) -> list[Route]:
        """The four routes both servers have (the `/v1/videos` prefix of both)."""
        return [Route("/v1/videos", self.create, methods=["POST"]),
                Route("/v1/videos/{video_id}", self.retrieve, methods=["GET"]),
                Route("/v1/videos/{video_id}", self.delete, methods=["DELETE"]),
                Route("/v1/videos/{video_id}/content", self.content, methods=["GET"])]

    async def create(self, request: Request) -> Response:
        raise NotImplementedError

    async def retrieve(self, request: Request) -> Response:
        raise NotImplementedError

    async def delete(self, request: Request) -> Response:
        raise NotImplementedError

    async def content(self, request: Request) -> Response:
        raise NotImplementedError

    def new_job(self, job_id: str, fields: dict[str, Any], files: list[Part]) -> FakeJob:
        now = time.monotonic()
        plan = self._plan
        job = FakeJob(job_id, fields, files, now, plan.run_s, plan.outcome, plan.message, plan.held)
        with self._lock:
            self.jobs[job_id] = job
            self.creates.append(job)
            self.peak_open = max(self.peak_open, self.open_jobs(now))
        return job

    def unauthorized(self, request: Request) -> Response | None:
        if self.api_key and request.headers.get("authorization") != f"Bearer {self.api_key}":
            return JSONResponse({"error": "Unauthorized"}, status_code=401)
        return None

    def video_response(self) -> Response:
        return Response(self.video, media_type="video/mp4")


class _Gate:
    """ASGI middleware: records each request and answers the scripted bursts (a proxy's bare 502s)."""

    def __init__(self, app: Any, fake: FakeVideosServer):
        self.app, self.fake = app, fake

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            self.fake.requests.append((scope["method"], scope["path"]))
            if self.fake._bursts:
                status = self.fake._bursts.pop(0)
                await PlainTextResponse("Bad Gateway", status_code=status)(scope, receive, send)
                return
        await asyncio.sleep(0)
        await self.app(scope, receive, send)
