"""Webhooks (spec §8) through the API: every delivery verified with `standardwebhooks.Webhook(secret).verify`,
as a receiver would."""

from __future__ import annotations

import json
import time
from collections import Counter
from datetime import datetime
from typing import Any

import httpx
import pytest
from standardwebhooks import Webhook

from refvid.runtime import Runtime
from refvid.tasks.model import TaskStatus
from refvid.tasks.store import OutboxStore
from refvid.webhooks.dispatcher import WebhookDispatcher
from tests.support.bodies import create_body
from tests.support.waiting import wait_until
from tests.support.webhooks import FAST_WEBHOOKS, PUBLIC_URL, Delivery, Receiver, start_dispatcher

pytestmark = [pytest.mark.usefixtures("dispatcher"), pytest.mark.settings(**FAST_WEBHOOKS)]


def verified(secret: str, delivery: Delivery) -> dict[str, Any]:
    payload: dict[str, Any] = Webhook(secret).verify(delivery.body, delivery.headers)
    return payload


async def secret_of(api: httpx.AsyncClient) -> str:
    answer = await api.get("/v1/webhooks/secret")
    assert answer.status_code == 200, answer.text
    secret: str = answer.json()["secret"]
    return secret


async def test_cancel_event_is_signed_and_carries_the_task_as_get_returns_it(
        api: httpx.AsyncClient, receiver: Receiver) -> None:
    secret = await secret_of(api)
    created = (await api.post("/v1/videos/generations", json=create_body(receiver.url))).json()
    await api.post(f"/v1/tasks/{created['id']}/cancel")
    (delivery,) = receiver.wait_for(1)
    payload = verified(secret, delivery)
    assert payload["type"] == "video.generation.cancelled"
    assert datetime.fromisoformat(payload["timestamp"]).timestamp() == pytest.approx(time.time(), abs=60)
    assert payload["data"] == (await api.get(f"/v1/tasks/{created['id']}")).json()
    assert payload["data"]["usage"]["credits_reserved"] == 0  # released on cancel
    assert delivery.headers["webhook-id"].startswith("msg_")
    assert delivery.headers["content-type"] == "application/json"


async def test_each_status_change_arrives_once_and_in_order(api: httpx.AsyncClient, receiver: Receiver,
                                                             runtime: Runtime) -> None:
    secret = await secret_of(api)
    created = (await api.post("/v1/videos/generations", json=create_body(receiver.url))).json()
    claim = runtime.store.claim_next("worker-a", ["compositor"], lease_s=30)
    assert claim is not None and claim.task.id == created["id"]
    receiver.wait_for(1)  # a completion before `processing` went out would supersede it
    result: dict[str, Any] = {"video_key": f"results/{created['id']}/1/video.mp4", "thumbnail_key": None, "seed": 7,
              "width": 864, "height": 496, "duration": 4.0, "fps": 24, "has_audio": True, "extra": {}}
    assert runtime.store.finish(created["id"], claim.token, TaskStatus.COMPLETED, result=result)
    first, second = receiver.wait_for(2)
    events = [verified(secret, first), verified(secret, second)]
    assert [e["type"] for e in events] == ["video.generation.processing", "video.generation.completed"]
    assert [e["data"]["status"] for e in events] == ["processing", "completed"]
    assert first.headers["webhook-id"] != second.headers["webhook-id"]
    done = events[1]["data"]
    assert done == (await api.get(f"/v1/tasks/{created['id']}")).json()
    assert done["results"][0]["url"].startswith(f"{PUBLIC_URL}/v1/results/{created['id']}/video.mp4?")


async def test_a_receiver_failing_three_times_gets_the_event_exactly_once(
        api: httpx.AsyncClient, receiver: Receiver, runtime: Runtime) -> None:
    secret = await secret_of(api)
    receiver.script = [500, 503, 429]
    created = (await api.post("/v1/videos/generations", json=create_body(receiver.url))).json()
    await api.post(f"/v1/tasks/{created['id']}/cancel")
    receiver.wait_for(4)
    outbox = OutboxStore(runtime.store)
    wait_until(lambda: outbox.messages(created["id"])[0]["state"] == "delivered")  # settled: nothing follows
    deliveries = receiver.deliveries
    assert [d.answered for d in deliveries] == [500, 503, 429, 200]
    for delivery in deliveries:
        assert verified(secret, delivery)["type"] == "video.generation.cancelled"
    assert len({d.headers["webhook-id"] for d in deliveries}) == 1  # stable across retries
    accepted = Counter(d.headers["webhook-id"] for d in deliveries if 200 <= d.answered < 300)
    assert list(accepted.values()) == [1]
    (row,) = outbox.messages(created["id"])
    assert (row["state"], row["attempts"], row["last_status"]) == ("delivered", 4, 200)


async def test_410_disables_the_endpoint_for_later_events(api: httpx.AsyncClient, receiver: Receiver,
                                                          runtime: Runtime) -> None:
    receiver.script = [410]
    first = (await api.post("/v1/videos/generations", json=create_body(receiver.url))).json()
    await api.post(f"/v1/tasks/{first['id']}/cancel")
    receiver.wait_for(1)
    second = (await api.post("/v1/videos/generations", json=create_body(receiver.url))).json()
    await api.post(f"/v1/tasks/{second['id']}/cancel")
    outbox = OutboxStore(runtime.store)
    wait_until(lambda: outbox.messages(second["id"])[0]["state"] == "disabled")
    assert len(receiver.deliveries) == 1
    assert outbox.messages(first["id"])[0]["state"] == "disabled"


async def test_rotation_signs_with_both_secrets_for_the_grace_period(api: httpx.AsyncClient,
                                                                    receiver: Receiver) -> None:
    old = await secret_of(api)
    assert old.startswith("whsec_") and await secret_of(api) == old  # stable until rotated
    rotated = (await api.post("/v1/webhooks/secret/rotate")).json()
    new = rotated["secret"]
    assert new != old and (await api.get("/v1/webhooks/secret")).json()["secret"] == new
    assert rotated["previous_secret_expires_at"] == pytest.approx(time.time() + 86400, abs=60)
    created = (await api.post("/v1/videos/generations", json=create_body(receiver.url))).json()
    await api.post(f"/v1/tasks/{created['id']}/cancel")
    (delivery,) = receiver.wait_for(1)
    assert len(delivery.headers["webhook-signature"].split(" ")) == 2
    assert verified(old, delivery) == verified(new, delivery)


async def test_each_key_has_its_own_secret(api: httpx.AsyncClient) -> None:
    from tests.support.keys import OTHER_KEY

    other = await api.get("/v1/webhooks/secret", headers={"Authorization": f"Bearer {OTHER_KEY}"})
    assert other.json()["secret"] != await secret_of(api)
    assert (await api.get("/v1/webhooks/secret", headers={"Authorization": ""})).status_code == 401


@pytest.mark.parametrize("url", ["http://10.1.2.3/hook", "http://169.254.169.254/latest", "http://[::1]:80/x",
                                 "http://user:pw@example.com/hook", "ftp://example.com/hook"])
async def test_callback_urls_that_can_never_be_delivered_are_refused_at_submit(api: httpx.AsyncClient,
                                                                               url: str) -> None:
    answer = await api.post("/v1/videos/generations", json=create_body(url))
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"]["param"] == "callback_url"


async def test_a_name_resolving_to_a_forbidden_address_is_refused_when_delivering(
        api: httpx.AsyncClient, receiver: Receiver, runtime: Runtime, dispatcher: WebhookDispatcher) -> None:
    dispatcher.stop()  # the permissive one (127.0.0.1 allowed) must not race the strict one
    strict = runtime.settings.model_copy(update={"fetch_allow_hosts": []})
    strict_dispatcher = start_dispatcher(strict, runtime, threads=1)
    try:
        url = f"http://localhost:{receiver.port}/hook"
        created = (await api.post("/v1/videos/generations", json=create_body(url))).json()
        await api.post(f"/v1/tasks/{created['id']}/cancel")
        outbox = OutboxStore(runtime.store)
        row = wait_until(lambda: next((r for r in outbox.messages(created["id"]) if r["state"] != "pending"), None))
    finally:
        strict_dispatcher.stop()
    assert row["state"] == "failed" and "forbidden" in row["last_error"]
    assert not receiver.deliveries


async def test_tasks_without_a_callback_write_no_events(api: httpx.AsyncClient, runtime: Runtime) -> None:
    created = (await api.post("/v1/videos/generations", json=create_body())).json()
    await api.post(f"/v1/tasks/{created['id']}/cancel")
    assert OutboxStore(runtime.store).messages(created["id"]) == []


async def test_result_urls_fall_back_to_host_and_port_without_a_public_url(runtime: Runtime) -> None:
    from refvid.api.routes.webhooks import webhook_renderer
    from refvid.tasks.model import Task, TaskSpec
    from refvid.tasks.service import TaskService
    from refvid.webhooks.dispatcher import WebhookEvent

    plain = runtime.settings.model_copy(update={"public_url": None, "host": "10.0.0.5", "port": 8123})
    plain_runtime = Runtime(plain, runtime.store, runtime.blobs, runtime.waker, runtime.signing_secret)
    render = webhook_renderer(plain_runtime, TaskService(plain, runtime.store, runtime.blobs, runtime.waker))
    task = Task(id="task-unified-1-abcdefgh", owner="key_x", spec=TaskSpec(model="m", prompt="p"), engine="e",
                status=TaskStatus.COMPLETED, finished_at=time.time(), result={
                    "video_key": "results/x/1/video.mp4", "seed": 1, "width": 2, "height": 2, "duration": 4,
                    "fps": 24, "has_audio": False})
    event = WebhookEvent("video.generation.completed", "2025-09-06T13:23:51Z")
    assert render(task, event)["data"]["results"][0]["url"].startswith("http://10.0.0.5:8123/v1/results/")


def test_outbox_rows_die_with_their_status_change(runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    """The event is written in the transaction of the change: if writing it fails, the change rolls back."""
    from refvid.tasks.model import Task, TaskSpec
    from refvid.tasks.store import tasks as store_module

    spec = TaskSpec(model="m", prompt="p", callback_url="http://127.0.0.1:9/hook")
    task, _ = runtime.store.insert_task(Task(id="task-unified-1-rollback", owner="key_x", spec=spec,
                                             engine="compositor"))

    def broken(*_: Any) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(store_module, "record_status_changes", broken)
    with pytest.raises(RuntimeError):
        runtime.store.request_cancel(task.id)
    stored = runtime.store.get_task(task.id)
    assert stored is not None and stored.status == TaskStatus.PENDING
    assert OutboxStore(runtime.store).messages(task.id) == []


def test_body_shape(runtime: Runtime, dispatcher: WebhookDispatcher) -> None:
    from refvid.webhooks.dispatcher import event_of, standard_body

    event = event_of({"created_at": 1757165031.5, "event_type": "video.generation.failed"})
    body = standard_body(event, {"a": 1})
    assert body == {"type": "video.generation.failed", "timestamp": "2025-09-06T13:23:51.500000Z", "data": {"a": 1}}


async def test_the_app_lifespan_runs_the_dispatcher(settings: Any, runtime: Runtime, receiver: Receiver,
                                                    dispatcher: WebhookDispatcher) -> None:
    """`refvid serve` delivers by itself: the composed app's lifespan starts and stops its delivery threads."""
    from refvid.cli import compose_server
    from tests.support.keys import API_KEY

    dispatcher.stop()  # only the app's own threads may deliver here
    app = compose_server(settings, runtime, embedded_workers=0)
    async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://refvid.test",
            headers={"Authorization": f"Bearer {API_KEY}"}) as api:
        created = (await api.post("/v1/videos/generations", json=create_body(receiver.url))).json()
        await api.post(f"/v1/tasks/{created['id']}/cancel")
        (delivery,) = receiver.wait_for(1)
        assert json.loads(delivery.body)["data"]["id"] == created["id"]
