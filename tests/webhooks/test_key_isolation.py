"""Issue 27: one key's failing and hanging callbacks on an origin another key also uses (a shared webhook
relay) neither delay nor stop that other key's events (spec §8: isolation per key and receiver origin)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from refvid.config import Settings
from refvid.runtime import Runtime
from refvid.tasks.store import OutboxStore
from refvid.tasks.store.outbox import receiver_of
from refvid.webhooks.dispatcher import WebhookDispatcher
from refvid.webhooks.receivers import FAILURES_TO_OPEN
from tests.support.bodies import create_body
from tests.support.keys import OTHER_KEY
from tests.support.waiting import wait_until
from tests.support.webhooks import FAST_WEBHOOKS, Receiver, start_dispatcher

# A hanging callback holds its thread 4 s (production: 15 s); production's breaker.
pytestmark = pytest.mark.settings(**{**FAST_WEBHOOKS, "webhook_timeout_s": 4})


@pytest.fixture
def eight_threads(settings: Settings, runtime: Runtime) -> Iterator[WebhookDispatcher]:
    """Eight delivery threads: a lane (key, origin) may use 2, an origin 4."""
    running = start_dispatcher(settings, runtime, threads=8)
    yield running
    running.stop()


async def b_event_latency_s(other: httpx.AsyncClient, relay: Receiver) -> float:
    """Seconds from key B's cancel (one `cancelled` event) until the relay has it."""
    created = (await other.post("/v1/videos/generations", json=create_body(relay.url))).json()
    count = len(relay.deliveries)
    sent = time.monotonic()
    await other.post(f"/v1/tasks/{created['id']}/cancel")
    relay.wait_for(count + 1, timeout_s=60)
    return time.monotonic() - sent


async def test_a_keys_failing_and_hanging_callbacks_do_not_slow_another_key_on_the_same_origin(
        api: httpx.AsyncClient, client_for: Any, runtime: Runtime, eight_threads: WebhookDispatcher) -> None:
    relay = Receiver()  # one origin; key A's paths fail or hang, key B's path is healthy
    base = relay.url.rsplit("/", 2)[0]
    relay.failing, relay.hanging = {"/hooks/a-fails"}, {"/hooks/a-hangs"}
    try:
        async with client_for(key=OTHER_KEY) as other:
            baseline_s = max([await b_event_latency_s(other, relay) for _ in range(3)])
            a_tasks = []  # key A: hanging callbacks first (they fill A's lane), then failing ones
            for path in ["/hooks/a-hangs"] * 3 + ["/hooks/a-fails"] * 6:
                created = (await api.post("/v1/videos/generations", json=create_body(base + path))).json()
                await api.post(f"/v1/tasks/{created['id']}/cancel")
                a_tasks.append(created["id"])
            wait_until(lambda: relay.refused >= 2, what="A's first callbacks to hang")
            while_hanging_s = [await b_event_latency_s(other, relay) for _ in range(3)]
            assert relay.refused == 2  # A's lane is full; B's events went out beside it
            owner_a = OutboxStore(runtime.store).messages(a_tasks[0])[0]["owner"]
            a_lane = (owner_a, receiver_of(relay.url))
            wait_until(lambda: eight_threads.gate.is_open(a_lane), timeout_s=30, what="key A's breaker to open")
            while_resting_s = [await b_event_latency_s(other, relay) for _ in range(3)]
        assert max(while_hanging_s) < baseline_s + 2.0, (baseline_s, while_hanging_s)
        assert max(while_resting_s) < baseline_s + 2.0, (baseline_s, while_resting_s)
        assert relay.refused >= FAILURES_TO_OPEN  # A's callbacks timed out or failed meanwhile
        assert eight_threads.gate.is_open(a_lane)  # and A rests on that origin while B goes on
    finally:
        relay.close()
