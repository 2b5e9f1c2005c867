"""`execution_expires_after` through the API (docs/api.md "Queue order and deadlines"): a task past its deadline
ends `expired` in Ark's dialect and `failed` with code `expired` in FoxAPI's and OpenAI's, pending or running,
with its credits released and its webhook sent; the running one's worker stops it. The wire's floor is 3600 s,
so each test moves the stored deadline into the past in the real database and runs a maintenance pass."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from refvid.config import Settings
from refvid.runtime import Runtime
from refvid.tasks.maintenance import Maintenance
from refvid.tasks.store import LedgerStore
from refvid.worker.supervisor import Worker
from tests.support import media_factory as mf
from tests.support.bodies import create_body
from tests.support.keys import API_KEY
from tests.support.waiting import wait_for, wait_until
from tests.support.webhooks import FAST_WEBHOOKS, Receiver

pytestmark = [pytest.mark.usefixtures("dispatcher"), pytest.mark.settings(**FAST_WEBHOOKS)]
AUTH = {"Authorization": f"Bearer {API_KEY}"}
ARK_TASKS = "/api/v3/contents/generations/tasks"


def pass_the_deadline(settings: Settings, runtime: Runtime, task_id: str) -> None:
    """The stored deadline moves into the past; one maintenance pass (as every server runs each second)."""
    with runtime.store.transaction(write=True) as q:
        q("UPDATE tasks SET expires_at = ? WHERE id = ?", (time.time() - 1, task_id))
    Maintenance(settings, runtime.store, runtime.blobs, runtime.waker).run_once()


def credits_held(runtime: Runtime) -> int:
    owner = runtime.owner_of(API_KEY)
    assert owner is not None
    return LedgerStore(runtime.store).credits_used(owner, 0)


def statuses_delivered(receiver: Receiver) -> list[str]:
    """Each delivery's task status (a FoxAPI event wraps the task in `data`; an Ark task's is Ark's task object)."""
    bodies = [json.loads(d.body) for d in receiver.deliveries]
    return [str(b["data"]["status"] if "data" in b else b["status"]) for b in bodies]


async def test_a_queued_ark_task_expires_in_every_dialect_with_credits_released_and_a_webhook(
        http: httpx.AsyncClient, settings: Settings, runtime: Runtime, receiver: Receiver) -> None:
    created = await http.post(ARK_TASKS, headers=AUTH, json={
        "model": "dreamina-seedance-2-0-fast-260128", "callback_url": receiver.url,
        "content": [{"type": "text", "text": "@Image1 in the rain"},
                    {"type": "image_url", "image_url": {"url": "http://127.0.0.1:9/a.png"}, "role": "reference_image"}],
        "resolution": "480p", "duration": 4, "service_tier": "flex", "priority": 3, "execution_expires_after": 3600,
        "safety_identifier": "user-42"})
    assert created.status_code == 200, created.text
    task_id = created.json()["id"]
    queued = (await http.get(f"{ARK_TASKS}/{task_id}", headers=AUTH)).json()
    assert (queued["status"], queued["service_tier"], queued["priority"], queued["execution_expires_after"],
            queued["safety_identifier"]) == ("queued", "flex", 3, 3600, "user-42")
    assert credits_held(runtime) > 0

    pass_the_deadline(settings, runtime, task_id)
    ark = (await http.get(f"{ARK_TASKS}/{task_id}", headers=AUTH)).json()
    assert ark["status"] == "expired" and ark["error"]["code"] == "expired"
    fox = (await http.get(f"/v1/tasks/{task_id}", headers=AUTH)).json()
    assert (fox["status"], fox["error"]["code"], fox["usage"]["credits_reserved"]) == ("failed", "expired", 0)
    openai = (await http.get(f"/v1/videos/{task_id}", headers=AUTH)).json()
    assert (openai["status"], openai["error"]["code"]) == ("failed", "expired")
    assert credits_held(runtime) == 0
    receiver.wait_for(1)
    assert statuses_delivered(receiver) == ["expired"]


@pytest.fixture
def refs(media_server: tuple[str, Path]) -> str:
    base, folder = media_server
    mf.make_image(folder / "a.png", 640, 480, seed=3)
    return base


def body(refs: str, **changes: Any) -> dict[str, Any]:
    return {"model": "seedance-2.0-reference-to-video", "prompt": "@Image1 in the rain",
            "image_urls": [f"{refs}/a.png"], "resolution": "480p", "ratio": "16:9", "duration": 4, **changes}


async def test_a_running_task_expires_its_worker_stops_it_and_takes_the_next(
        api: httpx.AsyncClient, settings: Settings, runtime: Runtime, worker: Worker, receiver: Receiver,
        refs: str) -> None:
    long = body(refs, resolution="1080p", duration=15, callback_url=receiver.url, execution_expires_after=3600)
    created = (await api.post("/v1/videos/generations", json=long)).json()
    await wait_for(api, created["id"], {"processing"})
    while (await api.get(f"/v1/tasks/{created['id']}")).json()["progress"] < 15:  # the engine is rendering
        await asyncio.sleep(0.05)
    pass_the_deadline(settings, runtime, created["id"])
    task = (await api.get(f"/v1/tasks/{created['id']}")).json()
    assert (task["status"], task["error"]["code"], task["usage"]["credits_reserved"]) == ("failed", "expired", 0)
    assert "did not finish" in task["error"]["message"]
    wait_until(lambda: "failed" in statuses_delivered(receiver), what="the failed webhook")
    assert statuses_delivered(receiver) == ["processing", "failed"]
    # The worker stopped the render (as for a cancel) and is free: the next task is claimed long before a
    # 15 s 1080p render could have finished, and the expired task's outcome stands.
    following = (await api.post("/v1/videos/generations", json=body(refs))).json()
    await wait_for(api, following["id"], {"processing", "completed"}, timeout_s=30)
    await api.post(f"/v1/tasks/{following['id']}/cancel")
    assert (await api.get(f"/v1/tasks/{created['id']}")).json()["status"] == "failed"
    assert not (settings.data_dir / "work" / f"{created['id']}-1").exists()


@pytest.mark.parametrize(("field", "value", "rule"), [
    ("execution_expires_after", 3599, "3600–259200 seconds"), ("execution_expires_after", 259_201, "3600–259200"),
    ("priority", 10, "0–9"), ("priority", -1, "0–9"), ("service_tier", "scale", "default, flex"),
    ("priority", True, "integer")])
async def test_out_of_range_queue_fields_are_refused_naming_the_field_and_rule_in_both_dialects(
        http: httpx.AsyncClient, field: str, value: object, rule: str) -> None:
    fox = await http.post("/v1/videos/generations", headers=AUTH, json={**create_body(), field: value})
    assert fox.status_code == 422, fox.text
    assert fox.json()["error"]["param"] == field and rule in fox.json()["error"]["message"]
    ark = await http.post(ARK_TASKS, headers=AUTH, json={
        "model": "dreamina-seedance-2-0-fast-260128", field: value,
        "content": [{"type": "text", "text": "@Image1"}, {"type": "image_url", "role": "reference_image",
                                                          "image_url": {"url": "http://127.0.0.1:9/a.png"}}]})
    assert ark.status_code == 400, ark.text
    error = ark.json()["error"]
    assert (error["code"], error["param"]) == ("InvalidParameter", field)
    assert rule in error["message"]


async def test_flex_sent_first_is_claimed_after_the_keys_default_task(http: httpx.AsyncClient,
                                                                    runtime: Runtime) -> None:
    """With no worker running, a key sends a flex task, then a default one with priority: a claim takes the
    default one first."""
    flex = (await http.post("/v1/videos/generations", headers=AUTH, json=create_body(service_tier="flex"))).json()
    plain = (await http.post("/v1/videos/generations", headers=AUTH, json=create_body(priority=2))).json()
    claimed = [runtime.store.claim_next("w1", ["compositor"], 30) for _ in range(2)]
    assert [c.task.id for c in claimed if c is not None] == [plain["id"], flex["id"]]


async def test_ark_lists_filter_by_service_tier(http: httpx.AsyncClient) -> None:
    ids = {}
    for tier in ("flex", "default"):
        created = await http.post("/v1/videos/generations", headers=AUTH, json=create_body(service_tier=tier))
        ids[tier] = created.json()["id"]
    flex = (await http.get(ARK_TASKS, headers=AUTH, params={"filter.service_tier": "flex"})).json()
    assert [item["id"] for item in flex["items"]] == [ids["flex"]] and flex["total"] == 1
    bad = await http.get(ARK_TASKS, headers=AUTH, params={"filter.service_tier": "scale"})
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "filter.service_tier"
