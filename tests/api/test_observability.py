"""Request ids, log context, and the Prometheus metrics."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from refvid.api.observability import RequestContextMiddleware
from refvid.metrics import install_log_context, task_context
from refvid.runtime import Runtime
from refvid.worker.supervisor import Worker
from tests.support.bodies import create_body
from tests.support.waiting import wait_until
from tests.support.webhooks import FAST_WEBHOOKS, Receiver

pytestmark = pytest.mark.settings(**FAST_WEBHOOKS)


async def test_request_id_is_generated_or_echoed(api: httpx.AsyncClient) -> None:
    generated = await api.get("/v1/models")
    assert re.fullmatch(r"[0-9a-f]{32}", generated.headers["x-request-id"])
    echoed = await api.get("/v1/tasks/task-unified-1-missing0", headers={"X-Request-ID": "req-42.a"})
    assert echoed.status_code == 404 and echoed.headers["x-request-id"] == "req-42.a"
    for unsafe in (b"has space", b"x" * 200, "caf\u00e9".encode(), b"a\tb"):
        answer = await api.get("/v1/models", headers=[(b"X-Request-ID", unsafe)])
        assert re.fullmatch(r"[0-9a-f]{32}", answer.headers["x-request-id"])
    unauthorized = await api.get("/v1/models", headers={"Authorization": ""})
    assert unauthorized.status_code == 401 and unauthorized.headers["x-request-id"]


async def test_log_records_carry_the_request_id(caplog: pytest.LogCaptureFixture) -> None:
    install_log_context()

    async def endpoint(_: Request) -> PlainTextResponse:
        logging.getLogger("refvid.test").warning("inside the request")
        return PlainTextResponse("ok")

    app = RequestContextMiddleware(Starlette(routes=[Route("/", endpoint)]))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        with caplog.at_level(logging.WARNING, logger="refvid.test"):
            await client.get("/", headers={"X-Request-ID": "abc-123"})
    (record,) = [r for r in caplog.records if r.name == "refvid.test"]
    assert record.request_id == "abc-123"  # type: ignore[attr-defined]


def test_log_records_carry_the_task_id(caplog: pytest.LogCaptureFixture) -> None:
    install_log_context()
    with caplog.at_level(logging.INFO, logger="refvid.test"):
        with task_context("task-unified-1-abc"):
            logging.getLogger("refvid.test").info("working")
        logging.getLogger("refvid.test").info("idle")
    inside, outside = [r for r in caplog.records if r.name == "refvid.test"]
    assert inside.task_id == "task-unified-1-abc" and outside.task_id == "-"  # type: ignore[attr-defined]


def samples(text: str, name: str) -> dict[str, float]:
    """`{labels: value}` of one metric in the Prometheus text format."""
    found: dict[str, float] = {}
    for line in text.splitlines():
        match = re.fullmatch(rf"{name}(\{{.*\}})? (\S+)", line)
        if match:
            found[match.group(1) or ""] = float(match.group(2))
    return found


async def test_metrics(api: httpx.AsyncClient, worker: Worker, receiver: Receiver, runtime: Runtime,
                       dispatcher: Any) -> None:
    # A task whose reference cannot be fetched (nothing listens on port 9) fails with reference_fetch_failed.
    failing = (await api.post("/v1/videos/generations", json=create_body(receiver.url))).json()
    pending = (await api.post("/v1/videos/generations",
                              json=create_body(model="seedance-2.0-reference-to-video"))).json()
    await api.post(f"/v1/tasks/{pending['id']}/cancel")

    async def status() -> str:
        return str((await api.get(f"/v1/tasks/{failing['id']}")).json()["status"])

    while await status() != "failed":
        await asyncio.sleep(0.05)
    receiver.wait_for(2)  # processing, failed
    wait_until(lambda: all(m["state"] == "delivered" for m in dispatcher.outbox.messages(failing["id"])))
    text = (await api.get("/metrics", headers={"Authorization": ""})).text
    tasks = samples(text, "refvid_tasks")
    assert tasks['{model="seedance-2.0-fast-reference-to-video",status="failed"}'] == 1
    assert tasks['{model="seedance-2.0-reference-to-video",status="cancelled"}'] == 1
    assert samples(text, "refvid_queue_depth") == {'{model="seedance-2.0-fast-reference-to-video"}': 0,
                                                   '{model="seedance-2.0-reference-to-video"}': 0}
    assert samples(text, "refvid_reference_failures_total")['{code="reference_fetch_failed"}'] >= 1
    assert samples(text, "refvid_webhook_deliveries_total")['{outcome="delivered"}'] >= 2
    assert samples(text, "refvid_claim_latency_seconds_count")[""] >= 1
    assert "# TYPE refvid_generation_seconds histogram" in text
    requests = samples(text, "refvid_http_requests_total")
    assert requests['{method="GET",route="/v1/tasks/{task_id}",status="200"}'] >= 1  # templates, not ids
    assert not any(failing["id"] in labels for labels in requests)
    assert "process_resident_memory_bytes" in text


async def test_metrics_can_be_switched_off(client_for: Callable[..., Any]) -> None:
    async with client_for(metrics_enabled=False) as api:
        assert (await api.get("/metrics")).status_code == 404


def test_claim_latency_counts_first_claims_only() -> None:
    from refvid.metrics import CLAIM_LATENCY, task_claimed

    def count() -> float:
        return next(s.value for m in CLAIM_LATENCY.collect() for s in m.samples if s.name.endswith("_count"))

    before = count()
    task_claimed(time.time() - 2, attempts=1)
    task_claimed(time.time() - 2, attempts=2)
    assert count() == before + 1
