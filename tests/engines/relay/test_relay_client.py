"""The Ark HTTP client on a mock transport: retries, Retry-After, no double create, error mapping."""

from __future__ import annotations

import email.utils
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from refvid.engines.relay.client import ArkClient, ArkError, error_from_response, retry_after_s

Handler = Callable[[httpx.Request], httpx.Response]


def client_for(handler: Handler, sleeps: list[float], **kwargs: object) -> ArkClient:
    return ArkClient("k", "https://ark.test/api/v3/", transport=httpx.MockTransport(handler),
                     sleep=sleeps.append, backoff_s=0.01, **kwargs)  # type: ignore[arg-type]


def envelope(status: int, code: str, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, json={"error": {"code": code, "message": "m", "type": "T"}}, headers=headers)


def test_retry_after_forms() -> None:
    assert retry_after_s(httpx.Response(429, headers={"Retry-After": "3"})) == 3.0
    when = email.utils.formatdate(time.time() + 10, usegmt=True)
    assert 8 <= (retry_after_s(httpx.Response(429, headers={"Retry-After": when})) or 0) <= 10
    assert retry_after_s(httpx.Response(429, headers={"Retry-After": "soon"})) is None
    assert retry_after_s(httpx.Response(429)) is None


def test_429_and_5xx_retried_honouring_retry_after() -> None:
    answers = [envelope(429, "RateLimitExceeded", {"Retry-After": "2"}), envelope(503, "ServerOverloaded"),
               httpx.Response(200, json={"id": "cgt-1"})]
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return answers.pop(0)

    sleeps: list[float] = []
    assert client_for(handler, sleeps).create_task({"model": "m"}) == "cgt-1"
    assert len(seen) == 3 and sleeps[0] == 2.0 and 0 <= sleeps[1] <= 0.02
    assert seen[0].url == "https://ark.test/api/v3/contents/generations/tasks"
    assert seen[0].headers["authorization"] == "Bearer k"


def test_a_create_whose_answer_was_lost_is_not_sent_twice() -> None:
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.method)
        raise httpx.ReadTimeout("no answer", request=request)

    with pytest.raises(ArkError) as lost:
        client_for(handler, []).create_task({"model": "m"})
    assert calls == ["POST"] and lost.value.code == "upstream_error"
    calls.clear()
    with pytest.raises(ArkError):
        client_for(handler, [], max_retries=2).get_task("cgt-1")
    assert calls == ["GET"] * 3  # reads are safe to repeat


def test_a_create_that_never_connected_is_retried() -> None:
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.method)
        if len(calls) < 3:
            raise httpx.ConnectError("refused", request=request)
        return httpx.Response(200, json={"id": "cgt-2"})

    assert client_for(handler, []).create_task({}) == "cgt-2" and len(calls) == 3


@pytest.mark.parametrize(("status", "code"), [(400, "upstream_rejected"), (413, "upstream_rejected"),
                                              (401, "upstream_error"), (403, "upstream_error"),
                                              (404, "upstream_error"), (500, "upstream_error")])
def test_error_mapping(status: int, code: str) -> None:
    error = error_from_response(envelope(status, "SomeCode"), "create the task")
    assert (error.code, error.http_status, error.provider_code) == (code, status, "SomeCode")
    assert "SomeCode" in error.message and f"HTTP {status}" in error.message
    plain = error_from_response(httpx.Response(502, text="<html>bad gateway</html>"), "x")
    assert plain.code == "upstream_error" and "HTTP502" in plain.message


def test_delete_is_one_quick_attempt() -> None:
    calls: list[str] = []

    def refuse(request: httpx.Request) -> httpx.Response:
        calls.append(request.method)
        return envelope(400, "InvalidParameter")

    assert client_for(refuse, []).delete_task("cgt-1") is False and calls == ["DELETE"]

    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    assert client_for(slow, []).delete_task("cgt-1") is False
    assert client_for(lambda r: httpx.Response(200, json={}), []).delete_task("cgt-1") is True


def test_download_retries_and_caps_size(tmp_path: Path) -> None:
    answers = [httpx.Response(503), httpx.Response(200, content=b"x" * 100)]
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return answers.pop(0)

    dest = tmp_path / "v.mp4"
    assert client_for(handler, []).download("https://tos.test/v.mp4?sig=1", dest) == 100
    assert dest.read_bytes() == b"x" * 100 and "authorization" not in seen[-1].headers
    with pytest.raises(ArkError):
        client_for(lambda r: httpx.Response(200, content=b"x" * 100), []).download("https://t/v", dest, 10)
    with pytest.raises(ArkError):
        client_for(lambda r: httpx.Response(403), []).download("https://t/v", tmp_path / "w.mp4")
    assert not (tmp_path / "w.mp4").exists()


def test_answers_that_are_not_task_objects() -> None:
    with pytest.raises(ArkError):
        client_for(lambda r: httpx.Response(200, text="not json"), []).get_task("cgt-1")
    with pytest.raises(ArkError):
        client_for(lambda r: httpx.Response(200, json={"no": "id"}), []).create_task({})
