"""The claims of docs/security.md marked *(tested)* that no other test pins down."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from refvid.runtime import Runtime
from refvid.storage.signing import signed_query
from refvid.tasks.model import TaskStatus
from tests.support.bodies import create_body
from tests.support.keys import OTHER_KEY
from tests.support.webhooks import FAST_WEBHOOKS

pytestmark = pytest.mark.settings(**FAST_WEBHOOKS)

KEYED_ROUTES = [("GET", "/v1/models"), ("GET", "/v1/tasks"), ("GET", "/v1/tasks/task-unified-1-aaaaaaaa"),
                ("POST", "/v1/videos/generations"), ("GET", "/v1/webhooks/secret"),
                ("POST", "/v1/webhooks/secret/rotate"), ("POST", "/v1/files/upload/url")]


@pytest.mark.parametrize("auth", [None, "Bearer wrong-key", "Basic dGVzdC1rZXk6", "Bearer "])
async def test_every_keyed_route_needs_a_known_key(api: httpx.AsyncClient, auth: str | None) -> None:
    headers = {"Authorization": auth} if auth else {"Authorization": ""}
    for method, path in KEYED_ROUTES:
        answer = await api.request(method, path, headers=headers, json={})
        assert answer.status_code == 401, (method, path, answer.text)
        assert answer.json()["error"]["type"] == "authentication_error"


async def test_another_keys_task_is_404_never_403(api: httpx.AsyncClient) -> None:
    created = (await api.post("/v1/videos/generations", json=create_body())).json()
    theirs = {"Authorization": f"Bearer {OTHER_KEY}"}
    for method, path in [("GET", f"/v1/tasks/{created['id']}"), ("POST", f"/v1/tasks/{created['id']}/cancel"),
                         ("DELETE", f"/v1/tasks/{created['id']}")]:
        assert (await api.request(method, path, headers=theirs)).status_code == 404
    assert (await api.get("/v1/tasks", headers=theirs)).json()["data"] == []


async def test_signed_urls_are_bound_to_their_path_and_expiry(api: httpx.AsyncClient, runtime: Runtime) -> None:
    done = []
    for _ in range(2):
        created = (await api.post("/v1/videos/generations", json=create_body())).json()
        claim = runtime.store.claim_next("w", ["compositor"], lease_s=30)
        assert claim is not None
        runtime.store.finish(created["id"], claim.token, TaskStatus.COMPLETED, result={
            "video_key": f"results/{created['id']}/1/video.mp4", "seed": 1, "width": 864, "height": 496,
            "duration": 4, "fps": 24, "has_audio": True})
        done.append((await api.get(f"/v1/tasks/{created['id']}")).json())
    url = httpx.URL(done[0]["results"][0]["url"])
    other_path = f"/v1/results/{done[1]['id']}/video.mp4"
    no_key = {"Authorization": ""}
    assert (await api.get(other_path, params=dict(url.params), headers=no_key)).status_code == 403
    assert (await api.get(url.path, params={"expires": url.params["expires"]}, headers=no_key)).status_code == 403
    later = str(int(url.params["expires"]) + 1)
    assert (await api.get(url.path, params={**url.params, "expires": later}, headers=no_key)).status_code == 403
    stale = f"{url.path}?{signed_query(runtime.signing_secret, url.path, int(time.time()) - 1)}"
    assert (await api.get(stale, headers=no_key)).status_code == 410


@pytest.mark.parametrize("path", ["/v1/tasks/..%2F..%2Fetc%2Fpasswd", "/v1/tasks/%2e%2e",
                                  "/v1/tasks/..%5C..%5Cwindows", "/v1/tasks/task-unified-1-aaaa%00"])
async def test_ids_are_never_paths(api: httpx.AsyncClient, path: str) -> None:
    answer = await api.get(path)
    assert answer.status_code == 404 and answer.json()["error"]["type"] == "not_found"


async def test_upload_names_cannot_traverse(api: httpx.AsyncClient, runtime: Runtime) -> None:
    path = "/v1/files/file-x/..%2F..%2Frefvid.db"
    signed = f"{path}?{signed_query(runtime.signing_secret, path, int(time.time()) + 60)}"
    assert (await api.get(signed, headers={"Authorization": ""})).status_code in (403, 404)


async def test_bodies_are_counted_not_trusted(client_for: Callable[..., Any]) -> None:
    async with client_for(max_body_bytes=2048) as api:
        big = create_body(prompt="@Image1 " + "x" * 4000)
        assert (await api.post("/v1/videos/generations", json=big)).status_code == 413

        async def stream() -> Any:
            yield b'{"model": "' + b"x" * 4096 + b'"}'

        lying = await api.post("/v1/videos/generations", content=stream(),
                               headers={"Content-Type": "application/json"})
        assert lying.status_code == 413 and lying.json()["error"]["type"] == "file_too_large_error"
