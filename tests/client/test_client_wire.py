"""Client behaviour that needs a scripted server: FoxAPI's sparser shapes, retries, polling cadence."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from refvid import AsyncClient, Client
from refvid.client.clients import poll_delay
from refvid.client.errors import RateLimitError, ServerError, TaskFailedError

FOX_TASK: dict[str, Any] = {
    "id": "task-unified-1757165031-uyujaw3d", "object": "video.generation.task", "type": "video",
    "model": "seedance-2.0-reference-to-video", "status": "pending", "progress": 0, "created": 1757165031,
    "results": None, "error": None}


def scripted(answers: list[httpx.Response], seen: list[httpx.Request]) -> httpx.MockTransport:
    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return answers.pop(0)
    return httpx.MockTransport(handle)


def test_poll_delay_backs_off_and_follows_the_hint() -> None:
    assert [poll_delay(n, None) for n in range(7)] == [0.5, 0.75, 1.125, 1.6875, 2.53125, 3.796875, 4.0]
    assert poll_delay(50, 120) == 4.0  # long estimate: backoff, capped
    assert poll_delay(5, 1) == 0.5  # nearly done: poll sooner
    assert poll_delay(5, 0.1) == 0.25  # never faster than min_s
    assert poll_delay(0, 0) == 0.5  # no estimate: plain backoff


async def test_foxapi_shapes_get_neutral_defaults(tmp_path: Path) -> None:
    seen: list[httpx.Request] = []
    done = {**FOX_TASK, "status": "completed", "progress": 100, "results": [{"url": "https://cdn.example/v.mp4"}]}
    older = {**FOX_TASK, "status": "completed", "output": {"url": "https://cdn.example/o.mp4", "width": 1280}}
    failed = {**FOX_TASK, "status": "failed", "error": {"code": "generation_failed", "message": "policy"}}
    upload = {"id": "file-1", "filename": "a.png", "url": "https://cdn.example/a.png", "size": 3,
              "created": 1757165031}
    answers = [httpx.Response(200, json=upload), httpx.Response(200, json=FOX_TASK),
               httpx.Response(200, json=done), httpx.Response(200, json=older), httpx.Response(200, json=failed)]
    async with AsyncClient("https://api.foxapi.cc", "fox-key", transport=scripted(answers, seen)) as fox:
        file = await fox.upload(b"png", filename="a.png")
        assert file.expires_at == 1757165031 + 72 * 3600
        task = await fox.create("@Image1 smiles", images=[file.url], duration=5)
        assert task.task_info.can_cancel and task.task_info.estimated_time == 0
        assert task.usage.credits_reserved == 0
        completed = await fox.get(task.id)
        assert completed.results and completed.results[0].url == "https://cdn.example/v.mp4"
        assert (completed.results[0].width, completed.results[0].seed) == (0, -1)
        legacy = await fox.get(task.id)
        assert legacy.results and legacy.results[0].width == 1280
        with pytest.raises(TaskFailedError) as error:
            await fox.wait(task.id)
    assert error.value.code == "generation_failed" and "policy" in error.value.message
    body = json.loads(seen[1].content)
    assert body == {"model": "seedance-2.0-reference-to-video", "prompt": "@Image1 smiles", "duration": 5,
                    "image_urls": ["https://cdn.example/a.png"]}
    assert seen[1].headers["authorization"] == "Bearer fox-key"
    assert seen[1].headers["idempotency-key"].startswith("refvid-py-")
    assert b'name="file"; filename="a.png"' in seen[0].content
    assert seen[4].url.params["sync_upstream"] == "true"


async def test_retries_429_with_retry_after_and_keeps_idempotency_key(monkeypatch: pytest.MonkeyPatch) -> None:
    sleeps: list[float] = []
    real_sleep = asyncio.sleep

    async def fake_sleep(delay: float) -> None:
        sleeps.append(delay)
        await real_sleep(0)

    monkeypatch.setattr(asyncio, "sleep", fake_sleep)
    seen: list[httpx.Request] = []
    limited = {"error": {"message": "slow down", "type": "rate_limit_error", "code": "rate_limited",
                         "param": None}}
    answers = [httpx.Response(429, json=limited, headers={"Retry-After": "3"}), httpx.Response(200, json=FOX_TASK),
               httpx.Response(429, json=limited), httpx.Response(429, json=limited),
               httpx.Response(429, json=limited, headers={"Retry-After": "1"}), httpx.Response(500, text="boom")]
    async with AsyncClient("http://x", "k", transport=scripted(answers, seen), max_retries=2) as client:
        task = await client.create("@Image1", images=["https://e.x/a.png"])
        assert task.id == FOX_TASK["id"] and sleeps == [3.0]
        assert seen[0].headers["idempotency-key"] == seen[1].headers["idempotency-key"]
        with pytest.raises(RateLimitError) as limit:
            await client.get(task.id)
        assert limit.value.retry_after == 1.0 and limit.value.code == "rate_limited"
        with pytest.raises(ServerError) as crash:
            await client.get(task.id)
    assert crash.value.status_code == 500 and crash.value.message == "boom"


async def test_wait_polls_sooner_when_the_estimate_is_short(monkeypatch: pytest.MonkeyPatch) -> None:
    sleeps: list[float] = []
    real_sleep = asyncio.sleep

    async def fake_sleep(delay: float) -> None:
        sleeps.append(delay)
        await real_sleep(0)

    monkeypatch.setattr(asyncio, "sleep", fake_sleep)
    states: list[dict[str, Any]] = [
        {**FOX_TASK, "status": "processing", "progress": p, "task_info": {"can_cancel": True, "estimated_time": e}}
        for p, e in [(0, 60), (10, 60), (20, 60), (30, 60), (40, 60), (50, 60), (60, 60), (90, 1)]]
    states.append({**FOX_TASK, "status": "completed", "progress": 100, "results": [{"url": "https://e.x/v.mp4"}]})
    answers = [httpx.Response(200, json=state) for state in states]
    async with AsyncClient("http://x", "k", transport=scripted(answers, [])) as client:
        done = await client.wait(FOX_TASK["id"])
    assert done.status == "completed"
    assert sleeps[:6] == [0.5, 0.75, 1.125, 1.6875, 2.53125, 3.796875] and sleeps[6] == 4.0
    assert sleeps[7] == 0.5  # estimate dropped to 1 s: poll again soon


def test_sync_client_download_sends_no_authorization(tmp_path: Path) -> None:
    seen: list[httpx.Request] = []
    done = {**FOX_TASK, "status": "completed", "progress": 100,
            "results": [{"url": "https://cdn.example/v.mp4?sig=1", "width": 864}]}
    answers = [httpx.Response(200, json=done), httpx.Response(200, content=b"\x00\x00\x00\x18ftypmp42")]
    with Client("https://api.foxapi.cc", "fox-key", transport=scripted(answers, seen)) as client:
        path = client.download(FOX_TASK["id"], tmp_path / "v.mp4")
    assert path.read_bytes().endswith(b"ftypmp42") and not (tmp_path / "v.mp4.part").exists()
    assert "authorization" in seen[0].headers and "authorization" not in seen[1].headers
    assert str(seen[1].url) == "https://cdn.example/v.mp4?sig=1"
