"""The task poll reads its parameters itself and remembers what it looked up (api/deps.py, api/present.py):
it must still answer exactly as a route with declared parameters and no memory would."""

from __future__ import annotations

import base64
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support import media_factory as mf
from tests.support.bodies import create_body
from tests.support.keys import OTHER_KEY

CREATE = "/v1/videos/generations"


async def new_task(api: httpx.AsyncClient) -> str:
    created = await api.post(CREATE, json=create_body())
    assert created.status_code == 200, created.text
    return str(created.json()["id"])


@pytest.mark.parametrize("value", ["true", "1", "yes", "on", "TRUE", "false", "0", "no", "off", "False"])
async def test_sync_upstream_takes_what_a_declared_bool_takes(api: httpx.AsyncClient, value: str) -> None:
    task_id = await new_task(api)
    answer = await api.get(f"/v1/tasks/{task_id}", params={"sync_upstream": value})
    assert answer.status_code == 200 and answer.json()["id"] == task_id


async def test_a_bad_sync_upstream_is_a_422_naming_it(api: httpx.AsyncClient) -> None:
    task_id = await new_task(api)
    answer = await api.get(f"/v1/tasks/{task_id}", params={"sync_upstream": "maybe"})
    assert answer.status_code == 422
    assert answer.json()["error"]["param"] == "sync_upstream"


@pytest.mark.parametrize("path", ["/v1/tasks/task-x?sync_upstream=maybe",
                                  "/api/v3/contents/generations/tasks/task-x"])
async def test_the_key_is_checked_before_anything_else(api: httpx.AsyncClient, path: str) -> None:
    for headers in ({"Authorization": ""}, {"Authorization": "Bearer not-a-key"}):
        answer = await api.get(path, headers=headers)
        assert answer.status_code == 401, answer.text


async def test_another_keys_task_is_not_found(api: httpx.AsyncClient, client_for: Callable[..., Any]) -> None:
    task_id = await new_task(api)
    async with client_for(key=OTHER_KEY) as other:
        for path in (f"/v1/tasks/{task_id}", f"/api/v3/contents/generations/tasks/{task_id}"):
            assert (await other.get(path)).status_code == 404
    assert (await api.get(f"/v1/tasks/{task_id}")).status_code == 200  # the owner's key still answers


async def test_the_openapi_document_lists_the_polls_parameters(api: httpx.AsyncClient) -> None:
    paths = (await api.get("/openapi.json")).json()["paths"]
    foxapi = {(p["name"], p["in"]) for p in paths["/v1/tasks/{task_id}"]["get"]["parameters"]}
    assert foxapi == {("task_id", "path"), ("sync_upstream", "query")}
    ark = {(p["name"], p["in"]) for p in paths["/api/v3/contents/generations/tasks/{task_id}"]["get"]["parameters"]}
    assert ark == {("task_id", "path")}


async def test_urls_follow_each_requests_host(api: httpx.AsyncClient, tmp_path: Path) -> None:
    """Base URLs are remembered per Host (and scheme, server, root path): a second host must never get the
    first one's."""
    data = base64.b64encode(mf.make_image(tmp_path / "a.png", 64, 48, seed=1).read_bytes()).decode()
    for host in ("one.example", "two.example:8080", "one.example", "ONE.example"):
        answer = await api.post("/v1/files/upload/base64", json={"file_data": data, "file_name": "a.png"},
                                headers={"Host": host})
        assert answer.status_code == 200, answer.text
        assert answer.json()["url"].startswith(f"http://{host}/v1/files/")
