"""Webhooks without head-of-line blocking (issue 14), as a receiver sees them: a newer event supersedes an older
one that is still being retried, a receiver that never answers uses only its own share of the delivery threads,
and a receiver that keeps failing rests as a whole (circuit breaker) while the others' events flow."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from refvid.runtime import Runtime
from refvid.tasks.model import TaskStatus
from refvid.tasks.store import OutboxStore
from refvid.tasks.store.outbox import receiver_of
from refvid.webhooks.dispatcher import WebhookDispatcher
from refvid.webhooks.receivers import FAILURES_TO_OPEN
from tests.support.bodies import create_body
from tests.support.keys import OTHER_KEY
from tests.support.waiting import wait_until
from tests.support.webhooks import FAST_WEBHOOKS, HangingReceiver, Receiver

pytestmark = [pytest.mark.usefixtures("dispatcher"), pytest.mark.settings(**FAST_WEBHOOKS)]
# A retry schedule of minutes: an event held behind the failed `processing` would wait 5 min.
SLOW_RETRIES: dict[str, Any] = {**FAST_WEBHOOKS, "webhook_retry_schedule_s": [300.0] * 7}
# The production delivery timeout: a receiver that never answers holds its thread for 15 s.
LONG_TIMEOUT: dict[str, Any] = {**FAST_WEBHOOKS, "webhook_timeout_s": 15}
RESULT: dict[str, Any] = {"video_key": "results/x/1/video.mp4", "thumbnail_key": None, "seed": 7, "width": 864,
                          "height": 496, "duration": 4.0, "fps": 24, "has_audio": True, "extra": {}}


slow_retries: pytest.MarkDecorator = pytest.mark.settings(**SLOW_RETRIES)
long_timeout: pytest.MarkDecorator = pytest.mark.settings(**LONG_TIMEOUT)


@pytest.fixture
def hanging() -> Iterator[HangingReceiver]:
    running = HangingReceiver()
    yield running
    running.close()


def event_types(receiver: Receiver) -> list[str]:
    return [str(json.loads(d.body)["type"]) for d in receiver.deliveries]


@slow_retries
async def test_a_receiver_that_failed_processing_gets_completed_at_once(api: httpx.AsyncClient,
                                                                      receiver: Receiver, runtime: Runtime) -> None:
    receiver.script = [500]  # it answers 500 to `processing`
    created = (await api.post("/v1/videos/generations", json=create_body(receiver.url))).json()
    claim = runtime.store.claim_next("worker-a", ["compositor"], lease_s=30)
    assert claim is not None and claim.task.id == created["id"]
    receiver.wait_for(1)
    outbox = OutboxStore(runtime.store)
    wait_until(lambda: outbox.messages(created["id"])[0]["last_status"] == 500, what="the failure recorded")
    assert runtime.store.finish(created["id"], claim.token, TaskStatus.COMPLETED, result=RESULT)
    completed_at = time.monotonic()
    receiver.wait_for(2, timeout_s=10)
    assert time.monotonic() - completed_at < 10
    assert event_types(receiver) == ["video.generation.processing", "video.generation.completed"]
    assert [d.answered for d in receiver.deliveries] == [500, 200]
    wait_until(lambda: all(m["state"] != "pending" for m in outbox.messages(created["id"])),
               what="both events settled")
    states = [m["state"] for m in outbox.messages(created["id"])]
    assert states == ["superseded", "delivered"]  # the old state is never sent after the new one
    await asyncio.sleep(0.3)
    assert len(receiver.deliveries) == 2


@long_timeout
async def test_a_receiver_that_never_answers_does_not_delay_another_keys_delivery(
        api: httpx.AsyncClient, client_for: Any, receiver: Receiver, hanging: HangingReceiver) -> None:
    for _ in range(8):  # key A: 8 events to a receiver that never answers
        created = (await api.post("/v1/videos/generations", json=create_body(hanging.url))).json()
        await api.post(f"/v1/tasks/{created['id']}/cancel")
    wait_until(lambda: hanging.requests >= 1, what="the hanging receiver to be called")
    async with client_for(key=OTHER_KEY) as other:  # key B: one event to a healthy receiver
        created = (await other.post("/v1/videos/generations", json=create_body(receiver.url))).json()
        sent = time.monotonic()
        await other.post(f"/v1/tasks/{created['id']}/cancel")
    receiver.wait_for(1, timeout_s=10)
    assert time.monotonic() - sent < 2.0
    assert hanging.requests == 1  # its share: one delivery at a time (2 threads, a quarter each, at least 1)


async def test_a_receiver_that_keeps_failing_rests_while_others_are_served(
        api: httpx.AsyncClient, client_for: Any, receiver: Receiver, dispatcher: WebhookDispatcher,
        runtime: Runtime) -> None:
    failing = Receiver()
    failing.script = [503] * 1000
    try:
        for _ in range(4):  # with 7 retries each, 50 ms apart, that would be 32 requests in about a second
            created = (await api.post("/v1/videos/generations", json=create_body(failing.url))).json()
            await api.post(f"/v1/tasks/{created['id']}/cancel")
        failing.wait_for(FAILURES_TO_OPEN)
        owner = OutboxStore(runtime.store).messages(created["id"])[0]["owner"]
        wait_until(lambda: dispatcher.gate.is_open((owner, receiver_of(failing.url))), what="the breaker to open")
        async with client_for(key=OTHER_KEY) as other:
            created = (await other.post("/v1/videos/generations", json=create_body(receiver.url))).json()
            sent = time.monotonic()
            await other.post(f"/v1/tasks/{created['id']}/cancel")
        receiver.wait_for(1, timeout_s=10)
        assert time.monotonic() - sent < 2.0
        await asyncio.sleep(1.0)
        assert len(failing.deliveries) == FAILURES_TO_OPEN  # resting: no attempt, no retry spent
    finally:
        failing.close()
