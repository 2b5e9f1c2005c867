"""`LeanRoute` (api/routing.py): the poll and create routes run without FastAPI's per-request machinery, and
every other route of the same routers still gets it (parameter validation, dependencies)."""

from __future__ import annotations

import httpx
import pytest

from refvid.api.routing import LeanRoute
from refvid.config import Settings
from refvid.runtime import Runtime
from tests.support.apps import api_app

HOT = {("POST", "/v1/videos/generations"), ("GET", "/v1/tasks/{task_id}"),
       ("POST", "/api/v3/contents/generations/tasks"), ("GET", "/api/v3/contents/generations/tasks/{task_id}"),
       ("POST", "/v1/videos"), ("GET", "/v1/videos/{video_id}")}


def test_the_polls_and_creates_of_every_dialect_and_nothing_else_run_lean(settings: Settings,
                                                                            runtime: Runtime) -> None:
    routes = [r for r in api_app(settings, runtime).router.routes if isinstance(r, LeanRoute)]
    lean = {(method, r.path) for r in routes if r.lean for method in r.methods or ()}
    assert lean == HOT
    assert any(not r.lean for r in routes)  # the same routers' other routes keep FastAPI's machinery


@pytest.mark.parametrize("path", ["/v1/tasks?limit=1000", "/api/v3/contents/generations/tasks?page_size=0"])
async def test_routes_with_parameters_still_validate_them(api: httpx.AsyncClient, path: str) -> None:
    answer = await api.get(path)
    assert answer.status_code in (400, 422), answer.text  # FoxAPI: 422; Ark: 400 InvalidParameter


async def test_a_lean_route_answers_errors_through_the_usual_handlers(api: httpx.AsyncClient) -> None:
    fox = await api.get("/v1/tasks/task-missing")
    assert fox.status_code == 404 and fox.json()["error"]["code"] == "task_not_found"
    ark = await api.get("/api/v3/contents/generations/tasks/task-missing")
    assert ark.status_code == 404 and ark.json()["error"]["code"] == "ResourceNotFound"
    bad = await api.post("/v1/videos/generations", content=b"{", headers={"Content-Type": "application/json"})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_json"
    assert bad.headers["x-request-id"]  # the middleware still wraps them
