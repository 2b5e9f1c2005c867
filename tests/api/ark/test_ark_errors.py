"""Ark's validation rules and error shapes, as the official SDK surfaces them (exception class, `code`,
`param`), and Ark-shaped webhooks for tasks created in the Ark dialect. No worker: tasks stay queued."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from volcenginesdkarkruntime import AsyncArk
from volcenginesdkarkruntime._exceptions import (
    ArkAPIStatusError,
    ArkAuthenticationError,
    ArkBadRequestError,
    ArkNotFoundError,
)

from refvid.webhooks.dispatcher import WebhookDispatcher
from tests.support.keys import API_KEY
from tests.support.webhooks import FAST_WEBHOOKS, Receiver

MODEL = "dreamina-seedance-2-0-260128"
TASKS = "/api/v3/contents/generations/tasks"


fast_webhooks: pytest.MarkDecorator = pytest.mark.settings(**FAST_WEBHOOKS)

def image(url: str, role: str = "reference_image") -> dict[str, Any]:
    return {"type": "image_url", "image_url": {"url": url}, "role": role}


def text(prompt: str = "@Image1 in the rain") -> dict[str, Any]:
    return {"type": "text", "text": prompt}


async def refused(ark: AsyncArk, **changes: Any) -> ArkAPIStatusError:
    arguments: dict[str, Any] = {"model": MODEL, "content": [text(), image("https://example.com/a.png")]}
    arguments.update(changes)
    with pytest.raises(ArkAPIStatusError) as caught:
        await ark.content_generation.tasks.create(**arguments)
    return caught.value


async def test_duration_3_is_a_400_with_a_code(ark: AsyncArk) -> None:
    error = await refused(ark, duration=3)
    assert isinstance(error, ArkBadRequestError) and error.status_code == 400
    assert (error.code, error.param) == ("InvalidParameter", "duration")
    assert "4–15" in error.message


@pytest.mark.parametrize(("changes", "code", "param", "words"), [
    ({"ratio": "2:1"}, "InvalidParameter", "ratio", "16:9"),
    ({"resolution": "4k"}, "InvalidParameter", "resolution", "480p"),
    ({"seed": -2}, "InvalidParameter", "seed", "seed"),
    ({"content": [image("https://example.com/a.png")]}, "MissingParameter", "content", "text"),
    ({"content": [text(), text(), image("https://example.com/a.png")]}, "InvalidParameter", "content[1]", "one text"),
    ({"content": [text("@Image2 first")]}, "InvalidParameter", "content[0].text", "@Image2"),  # text-to-video
    ({"content": [text("@Image2"), image("https://example.com/a.png")]}, "InvalidParameter", "content[0].text",
     "@Image2"),
    ({"content": [text(), image("ftp://example.com/a.png")]}, "InvalidParameter", "content[1].image_url.url",
     "http"),
    ({"content": [text(), image("https://example.com/a.png", role="reference_video")]}, "InvalidParameter",
     "content[1].role", "reference_image"),
    ({"content": [text("a walk"), image("https://example.com/a.png", role="first_frame"),
                  image("https://example.com/b.png")]}, "InvalidParameter", "content", "cannot be combined"),
    ({"content": [text(), image("https://example.com/a.png", role="last_frame")]}, "InvalidParameter",
     "content[1].role", "needs a first_frame"),
    ({"content": [image("https://example.com/a.png", role="first_frame"),
                  image("https://example.com/b.png", role="first_frame")]}, "InvalidParameter", "content[1].role",
     "at most one"),
    ({"content": [image("https://example.com/a.png", role="first_frame"),
                  {"type": "audio_url", "audio_url": {"url": "https://example.com/a.mp3"}, "role": "reference_audio"}]},
     "InvalidParameter", "content", "cannot be combined"),
    ({"content": [text("to @Audio1"), {"type": "audio_url", "audio_url": {"url": "https://example.com/a.mp3"},
                                        "role": "reference_audio"}]}, "MissingParameter", "content", "audio"),
    ({"content": [text()] + [image(f"https://example.com/{i}.png") for i in range(10)]}, "InvalidParameter",
     "content", "at most 9"),
    ({"draft": True}, "InvalidParameter", "draft", "seedance-2.0-reference-to-video offers no drafts"),
    ({"frames": 121}, "InvalidParameter", "frames", "not offered"),
    ({"callback_url": "http://169.254.169.254/latest"}, "InvalidParameter", "callback_url", "callback_url"),
])
async def test_ark_rules_answer_ark_errors(ark: AsyncArk, changes: dict[str, Any], code: str, param: str,
                                           words: str) -> None:
    error = await refused(ark, **changes)
    assert (error.status_code, error.code, error.param) == (400, code, param), error.body
    assert words in error.message, error.message


async def test_unknown_model_is_ark_404(ark: AsyncArk) -> None:
    error = await refused(ark, model="seedance-9-pro")
    assert isinstance(error, ArkNotFoundError) and error.code == "InvalidEndpointOrModel.NotFound"
    assert "dreamina-seedance-2-0-fast-260128" in error.message


async def test_shape_errors(http: httpx.AsyncClient) -> None:
    headers = {"Authorization": f"Bearer {API_KEY}"}
    body: dict[str, Any] = {"model": MODEL, "content": [text(), image("https://example.com/a.png")]}
    cases = [({**body, "prompt": "x"}, "prompt"), ({**body, "duration": "5"}, "duration"),
             ({**body, "content": [text(), {"type": "draft_task", "draft_task": {"di": "x"}}]},
              "content[1].draft_task.id"),
             ({**body, "content": [text(), {"type": "image_url", "role": "reference_image"}]},
              "content[1].image_url.url"),
             ({"content": body["content"]}, "model")]
    for sent, param in cases:
        answer = await http.post(TASKS, json=sent, headers=headers)
        assert answer.status_code == 400, (sent, answer.text)
        error = answer.json()["error"]
        assert error["param"] == param and error["type"] == "BadRequest", error
        assert error["code"] in ("InvalidParameter", "MissingParameter"), error
    listed = await http.get(TASKS, params={"filter.status": "done"}, headers=headers)
    assert listed.status_code == 400 and listed.json()["error"]["param"] == "filter.status"
    paged = await http.get(TASKS, params={"page_size": 501}, headers=headers)
    assert paged.status_code == 400 and paged.json()["error"]["param"] == "page_size"


async def test_bad_key_is_ark_401(http: httpx.AsyncClient) -> None:
    wrong = AsyncArk(base_url="http://refvid.test/api/v3", api_key="nope", http_client=http, max_retries=0)
    with pytest.raises(ArkAuthenticationError) as caught:
        await wrong.content_generation.tasks.list()
    assert caught.value.code == "AuthenticationError"
    missing = await http.get(f"{TASKS}/task-unified-0-abcdefgh")
    assert missing.status_code == 401 and missing.json()["error"]["code"] == "AuthenticationError"


@fast_webhooks
async def test_callbacks_of_ark_tasks_carry_ark_task_objects(ark: AsyncArk, receiver: Receiver,
                                                             dispatcher: WebhookDispatcher) -> None:
    created = await ark.content_generation.tasks.create(
        model=MODEL, content=[text(), image("https://example.com/a.png")], callback_url=receiver.url)
    await ark.content_generation.tasks.delete(task_id=created.id)  # queued → cancelled: one status change
    (delivery,) = receiver.wait_for(1)
    data = json.loads(delivery.body)  # Ark posts its task object itself, as its GET answers it
    assert (data["id"], data["model"], data["status"]) == (created.id, MODEL, "cancelled")
    assert {"created_at", "updated_at", "resolution", "ratio", "duration", "framespersecond"} <= set(data)
    assert "object" not in data and "progress" not in data  # not the FoxAPI task object


@pytest.mark.settings(rate_limit_per_minute=2, max_open_tasks=1)
async def test_limits_answer_ark_429s(http: httpx.AsyncClient) -> None:
    headers = {"Authorization": f"Bearer {API_KEY}"}
    body = {"model": MODEL, "content": [text(), image("https://example.com/a.png")]}
    assert (await http.post(TASKS, json=body, headers=headers)).status_code == 200
    second = await http.post(TASKS, json=body, headers=headers)
    assert second.status_code == 429 and second.json()["error"]["code"] == "QuotaExceeded"
    third = await http.get(TASKS, headers=headers)
    assert third.status_code == 429 and third.json()["error"]["code"] == "RateLimitExceeded"
    assert third.json()["error"]["type"] == "TooManyRequests" and int(third.headers["retry-after"]) >= 1
