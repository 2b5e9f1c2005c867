"""Per-key limits: requests per minute and open tasks → 429 with Retry-After; the credit budget → 402;
credits released on failure and cancellation."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from refvid.config import Settings
from refvid.runtime import Runtime
from refvid.tasks.model import TaskStatus
from tests.support.bodies import create_body
from tests.support.keys import OTHER_KEY
from tests.support.webhooks import FAST_WEBHOOKS

pytestmark = pytest.mark.settings(**FAST_WEBHOOKS)

CREATE = "/v1/videos/generations"


def test_defaults_stay_out_of_the_way() -> None:
    defaults = Settings()
    assert defaults.credit_budget == 0  # no budget
    assert defaults.rate_limit_per_minute == 0  # an operator opts into throttling
    assert defaults.max_open_tasks >= 1000


async def test_one_key_polling_hard_with_default_settings_is_never_throttled(
        client_for: Callable[..., Any]) -> None:
    # One backend serving many users through one key: 1,000 tasks polled every 2 s is 500 GETs a second.
    defaults = Settings()
    async with client_for(rate_limit_per_minute=defaults.rate_limit_per_minute,
                          max_open_tasks=defaults.max_open_tasks) as api:
        answers = [await api.get("/v1/models") for _ in range(1000)]
        assert {a.status_code for a in answers} == {200}


async def test_rate_limit_is_429_with_retry_after_per_key(client_for: Callable[..., Any]) -> None:
    async with client_for(rate_limit_per_minute=3) as api:
        answers = [await api.get("/v1/models") for _ in range(4)]
        assert [a.status_code for a in answers] == [200, 200, 200, 429]
        refused = answers[-1]
        assert refused.json()["error"]["type"] == "rate_limit_error"
        assert refused.json()["error"]["code"] == "rate_limited"
        assert int(refused.headers["retry-after"]) >= 1
        other = await api.get("/v1/models", headers={"Authorization": f"Bearer {OTHER_KEY}"})
        assert other.status_code == 200  # buckets are per key
        assert (await api.get("/v1/models", headers={"Authorization": "Bearer nope"})).status_code == 401


async def test_open_tasks_limit_is_429_until_one_finishes(client_for: Callable[..., Any]) -> None:
    async with client_for(max_open_tasks=2) as api:
        first = (await api.post(CREATE, json=create_body(), headers={"Idempotency-Key": "a"})).json()
        await api.post(CREATE, json=create_body())
        refused = await api.post(CREATE, json=create_body())
        assert refused.status_code == 429 and refused.json()["error"]["code"] == "too_many_open_tasks"
        assert int(refused.headers["retry-after"]) >= 1
        replay = await api.post(CREATE, json=create_body(), headers={"Idempotency-Key": "a"})
        assert replay.status_code == 200 and replay.json()["id"] == first["id"]  # a replay creates nothing
        await api.post(f"/v1/tasks/{first['id']}/cancel")
        assert (await api.post(CREATE, json=create_body())).status_code == 200


async def test_concurrent_creates_never_pass_the_open_tasks_limit(client_for: Callable[..., Any]) -> None:
    async with client_for(max_open_tasks=5) as api:
        answers = await asyncio.gather(*(api.post(CREATE, json=create_body()) for _ in range(20)))
        assert Counter(a.status_code for a in answers) == {200: 5, 429: 15}


async def test_budget_is_402_and_cancel_gives_credits_back(client_for: Callable[..., Any]) -> None:
    async with client_for(credit_budget=10) as api:  # 480p × 4 s = 4 credits a task
        first = (await api.post(CREATE, json=create_body())).json()
        assert first["usage"]["credits_reserved"] == 4
        await api.post(CREATE, json=create_body())
        refused = await api.post(CREATE, json=create_body())
        assert refused.status_code == 402
        assert refused.json()["error"]["type"] == "insufficient_quota"
        assert refused.json()["error"]["code"] == "insufficient_quota"
        cancelled = (await api.post(f"/v1/tasks/{first['id']}/cancel")).json()
        assert cancelled["usage"]["credits_reserved"] == 0
        assert (await api.get(f"/v1/tasks/{first['id']}")).json()["usage"]["credits_reserved"] == 0
        assert (await api.post(CREATE, json=create_body())).status_code == 200


async def test_failed_tasks_release_and_deleting_completed_ones_does_not(client_for: Callable[..., Any],
                                                                         runtime: Runtime) -> None:
    store = runtime.store
    async with client_for(credit_budget=8) as api:
        done = (await api.post(CREATE, json=create_body())).json()
        claim = store.claim_next("w", ["compositor"], lease_s=30)
        assert claim is not None and claim.task.id == done["id"]
        store.finish(done["id"], claim.token, TaskStatus.COMPLETED, result={"video_key": "k", "seed": 1,
                     "width": 864, "height": 496, "duration": 4, "fps": 24, "has_audio": True})
        assert (await api.delete(f"/v1/tasks/{done['id']}")).status_code == 200
        failed = (await api.post(CREATE, json=create_body())).json()
        claim = store.claim_next("w", ["compositor"], lease_s=30)
        assert claim is not None
        store.finish(failed["id"], claim.token, TaskStatus.FAILED,
                     error={"code": "reference_fetch_failed", "message": "image_urls[0]: 404"})
        shown = (await api.get(f"/v1/tasks/{failed['id']}")).json()
        assert shown["status"] == "failed" and shown["usage"]["credits_reserved"] == 0
        assert (await api.post(CREATE, json=create_body())).status_code == 200  # 4 spent + 4 = 8
        assert (await api.post(CREATE, json=create_body())).status_code == 402  # the deleted one still counts


async def test_limits_cost_nothing_when_off(client_for: Callable[..., Any]) -> None:
    async with client_for(rate_limit_per_minute=0, max_open_tasks=0, credit_budget=0) as api:
        answers = await asyncio.gather(*(api.post(CREATE, json=create_body()) for _ in range(10)))
        assert {a.status_code for a in answers} == {200}


async def test_429_and_402_are_documented(api: httpx.AsyncClient) -> None:
    spec = (await api.get("/openapi.json")).json()
    create = spec["paths"][CREATE]["post"]["responses"]
    assert {"402", "429"} <= set(create)
    assert "429" in spec["paths"]["/v1/tasks/{task_id}"]["get"]["responses"]
