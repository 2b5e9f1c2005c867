"""`Idempotency-Key` (spec §3): same key + same body within 24 h → the same task, never a second one; same
key + different body → 409; concurrent duplicates resolve to one task."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from refvid.runtime import Runtime
from tests.support.bodies import create_body
from tests.support.keys import OTHER_KEY
from tests.support.webhooks import FAST_WEBHOOKS

pytestmark = pytest.mark.settings(**FAST_WEBHOOKS)


async def create(api: httpx.AsyncClient, key: str, **changes: Any) -> httpx.Response:
    return await api.post("/v1/videos/generations", json=create_body(**changes), headers={"Idempotency-Key": key})


async def test_a_replay_returns_the_same_task(api: httpx.AsyncClient) -> None:
    first, again = await create(api, "order-1"), await create(api, "order-1")
    assert first.status_code == again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    assert again.headers["location"] == f"/v1/tasks/{first.json()['id']}"
    listed = (await api.get("/v1/tasks")).json()["data"]
    assert [t["id"] for t in listed] == [first.json()["id"]]


async def test_the_same_key_with_another_body_is_409(api: httpx.AsyncClient) -> None:
    await create(api, "order-2")
    answer = await create(api, "order-2", duration=5)
    assert answer.status_code == 409
    assert answer.json()["error"] == {"message": answer.json()["error"]["message"], "type": "invalid_request_error",
                                      "code": "idempotency_key_reused", "param": None}


async def test_concurrent_duplicates_make_one_task(api: httpx.AsyncClient) -> None:
    answers = await asyncio.gather(*(create(api, "order-3") for _ in range(24)))
    assert {a.status_code for a in answers} == {200}
    assert len({a.json()["id"] for a in answers}) == 1
    assert len((await api.get("/v1/tasks")).json()["data"]) == 1


async def test_keys_are_per_api_key(api: httpx.AsyncClient) -> None:
    mine = await create(api, "order-4")
    theirs = await api.post("/v1/videos/generations", json=create_body(),
                            headers={"Idempotency-Key": "order-4", "Authorization": f"Bearer {OTHER_KEY}"})
    assert theirs.status_code == 200 and theirs.json()["id"] != mine.json()["id"]


async def test_after_24_hours_the_key_makes_a_new_task(api: httpx.AsyncClient, runtime: Runtime) -> None:
    old = (await create(api, "order-5")).json()
    with runtime.store.transaction(write=True) as q:  # the task was made 25 h ago
        q("UPDATE tasks SET created_at = created_at - ? WHERE id = ?", (25 * 3600, old["id"]))
    new = await create(api, "order-5", duration=6)  # even with another body: the old mapping is over
    assert new.status_code == 200 and new.json()["id"] != old["id"]
    assert (await create(api, "order-5", duration=6)).json()["id"] == new.json()["id"]
    assert (await api.get(f"/v1/tasks/{old['id']}")).status_code == 200  # the old task itself stays


async def test_bad_keys_are_422(api: httpx.AsyncClient) -> None:
    answer = await create(api, "x" * 256)
    assert answer.status_code == 422 and answer.json()["error"]["code"] == "invalid_idempotency_key"
