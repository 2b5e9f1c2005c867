"""Issue 14: malformed and hostile input answers a 4xx in the error envelope and logs no traceback."""

from __future__ import annotations

import asyncio
import base64
import errno
import logging
import sqlite3
import time
from collections.abc import AsyncIterator, MutableMapping
from pathlib import Path
from typing import Any

import httpx
import pytest

from refvid.api.uploads import DRAIN_MAX_BYTES
from refvid.contract import MIB, UPLOAD_MAX_BYTES
from refvid.runtime import Runtime
from refvid.tasks.model import TaskStatus
from tests.support import media_factory as mf
from tests.support.apps import api_app
from tests.support.bodies import create_body
from tests.support.keys import API_KEY
from tests.support.media_servers import MediaServer

ARK_TASKS = "/api/v3/contents/generations/tasks"
NO_KEY = {"Authorization": ""}


def assert_envelope(answer: httpx.Response, status: int, code: str | None = None) -> None:
    assert answer.status_code == status, answer.text
    error = answer.json()["error"]
    assert set(error) == {"message", "type", "code", "param"}
    if code is not None:
        assert error["code"] == code


def no_traceback(caplog: pytest.LogCaptureFixture) -> None:
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR], caplog.text


async def completed_task(api: httpx.AsyncClient, runtime: Runtime) -> dict[str, Any]:
    created = (await api.post("/v1/videos/generations", json=create_body())).json()
    claim = runtime.store.claim_next("w", ["compositor"], lease_s=30)
    assert claim is not None
    key = f"results/{created['id']}/1/video.mp4"
    source = runtime.settings.data_dir / "result.mp4"
    source.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 64)
    runtime.blobs.put_file(key, source, "video/mp4")
    runtime.store.finish(created["id"], claim.token, TaskStatus.COMPLETED, result={
        "video_key": key, "seed": 1, "width": 864, "height": 496, "duration": 4, "fps": 24, "has_audio": True})
    task: dict[str, Any] = (await api.get(f"/v1/tasks/{created['id']}")).json()
    return task


async def test_expires_with_4301_digits_is_refused(api: httpx.AsyncClient, runtime: Runtime,
                                                   caplog: pytest.LogCaptureFixture, tmp_path: Path) -> None:
    task = await completed_task(api, runtime)
    url = httpx.URL(task["results"][0]["url"])
    upload = (await api.post("/v1/files/upload/stream", files={
        "file": ("a.png", mf.make_image(tmp_path / "a.png", 320, 320).read_bytes(), "image/png")})).json()
    for signed in (url, httpx.URL(upload["url"])):
        for expires in ("9" * 4301, "１２３", "-1", ""):
            answer = await api.get(signed.path, params={**signed.params, "expires": expires}, headers=NO_KEY)
            assert_envelope(answer, 403)
    no_traceback(caplog)


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


@pytest.mark.parametrize("path", ["/v1/videos/generations", "/v1/files/upload/base64", "/v1/files/upload/url",
                                  ARK_TASKS])
@pytest.mark.parametrize("depth", [10_000, 100])
async def test_deeply_nested_json_is_a_400(api: httpx.AsyncClient, caplog: pytest.LogCaptureFixture, path: str,
                                           depth: int) -> None:
    body = '{"model": "x", "prompt": ' + nested(depth) + "}"
    answer = await api.post(path, content=body, headers={"Content-Type": "application/json"})
    assert answer.status_code == 400, answer.text
    assert "nest" in answer.text
    no_traceback(caplog)


async def test_client_disconnecting_mid_body_logs_no_traceback(api: httpx.AsyncClient, settings: Any,
                                                               runtime: Runtime,
                                                               caplog: pytest.LogCaptureFixture) -> None:
    app = api_app(settings, runtime)
    sent: list[MutableMapping[str, Any]] = []
    messages: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    for path in ("/v1/videos/generations", "/v1/files/upload/stream", "/v1/files/upload/base64"):
        messages[:] = [{"type": "http.request", "body": b"--x\r\nContent-Disposition: form-data; name=",
                        "more_body": True}, {"type": "http.disconnect"}]
        content_type = b"multipart/form-data; boundary=x" if path.endswith("stream") else b"application/json"
        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
                 "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
                 "headers": [(b"host", b"refvid.test"), (b"authorization", f"Bearer {API_KEY}".encode()),
                             (b"content-type", content_type)],
                 "client": ("127.0.0.1", 5000), "server": ("refvid.test", 80)}
        await app(scope, receive, send)
        start = next(m for m in sent if m["type"] == "http.response.start")
        assert start["status"] == 400
    no_traceback(caplog)


def disk_full(*_: Any, **__: Any) -> None:
    raise OSError(errno.ENOSPC, "No space left on device")


async def test_full_disk_answers_507_and_reads_keep_working(api: httpx.AsyncClient, runtime: Runtime,
                                                            monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                            caplog: pytest.LogCaptureFixture) -> None:
    before = (await api.post("/v1/videos/generations", json=create_body())).json()
    monkeypatch.setattr(runtime.blobs, "put_file", disk_full)
    png = mf.make_image(tmp_path / "a.png", 320, 320).read_bytes()
    upload = await api.post("/v1/files/upload/stream", files={"file": ("a.png", png, "image/png")})
    assert_envelope(upload, 507, "insufficient_storage")
    assert upload.headers["Retry-After"]
    inline = "data:image/png;base64," + base64.b64encode(png).decode()
    assert_envelope(await api.post("/v1/videos/generations", json=create_body(image_urls=[inline])), 507)

    def sqlite_full(*_: Any, **__: Any) -> None:
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(runtime.store, "atomic", sqlite_full)  # the API's writer: BEGIN finds the disk full
    assert_envelope(await api.post("/v1/videos/generations", json=create_body()), 507, "insufficient_storage")
    assert (await api.get(f"/v1/tasks/{before['id']}")).status_code == 200
    assert (await api.get("/v1/tasks")).status_code == 200
    no_traceback(caplog)


async def test_served_files_are_nosniff_attachments(api: httpx.AsyncClient, runtime: Runtime) -> None:
    html = b"\x89PNG\r\n\x1a\n<html><script>alert(document.cookie)</script></html>"
    upload = (await api.post("/v1/files/upload/stream", files={"file": ("x.html", html, "text/html")})).json()
    task = await completed_task(api, runtime)
    for url in (upload["url"], task["results"][0]["url"]):
        served = await api.get(url, headers=NO_KEY)
        assert served.status_code == 200
        assert served.headers["X-Content-Type-Options"] == "nosniff"
        disposition = served.headers["Content-Disposition"]
        assert disposition.startswith("attachment; filename=") and disposition.endswith(('.png"', '.mp4"'))
        assert "html" not in served.headers["Content-Type"]


async def test_head_answers_with_the_headers_of_get_and_no_body(api: httpx.AsyncClient, runtime: Runtime) -> None:
    """HEAD of /healthz, of a result and of an upload: the status and headers of GET (Content-Length, type,
    Accept-Ranges, ETag, Last-Modified), no body; a bad signature is refused to HEAD as to GET."""
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 100
    upload = (await api.post("/v1/files/upload/stream", files={"file": ("a.png", png, "image/png")})).json()
    task = await completed_task(api, runtime)
    compared = ("content-length", "content-type", "accept-ranges", "etag", "last-modified")
    for url, sent in (("/healthz", {}), (upload["url"], NO_KEY), (task["results"][0]["url"], NO_KEY)):
        got, head = await api.get(url, headers=sent), await api.head(url, headers=sent)
        assert (got.status_code, head.status_code) == (200, 200), url
        assert head.content == b"" and int(head.headers["content-length"]) == len(got.content) > 0, url
        present = [name for name in compared if name in got.headers]
        assert [head.headers.get(name) for name in present] == [got.headers[name] for name in present], url
        if url != "/healthz":
            assert len(present) == len(compared), got.headers  # files: every header a download manager uses
    forged = (await api.head(task["results"][0]["url"].replace("sig=", "sig=0"), headers=NO_KEY))
    assert forged.status_code == 403


async def test_multipart_limit_is_enforced_while_streaming(api: httpx.AsyncClient, runtime: Runtime) -> None:
    """A chunked 1 GiB body is cut off at the limit: the app writes nothing past it, and reads (and drops) at
    most DRAIN_MAX_BYTES more, so that a client still sending reads the 413 rather than a reset."""
    tmp_dir = runtime.settings.data_dir / "tmp"
    state = {"sent": 0, "largest_on_disk": 0}
    boundary = "b0undary"

    async def body() -> AsyncIterator[bytes]:
        yield (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.png\"\r\n"
               "Content-Type: image/png\r\n\r\n").encode()
        chunk = b"\x89PNG" + b"\x00" * (1024 * 1024 - 4)
        while state["sent"] < 1024**3:
            state["sent"] += len(chunk)
            on_disk = sum(p.stat().st_size for p in tmp_dir.glob("*")) if tmp_dir.is_dir() else 0
            state["largest_on_disk"] = max(state["largest_on_disk"], on_disk)
            yield chunk

    answer = await api.post("/v1/files/upload/stream", content=body(),
                            headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    assert_envelope(answer, 413, "file_too_large")
    assert state["sent"] <= UPLOAD_MAX_BYTES + DRAIN_MAX_BYTES + 2 * MIB
    assert state["largest_on_disk"] <= UPLOAD_MAX_BYTES
    assert not list(tmp_dir.glob("*"))


async def test_url_uploads_have_a_per_key_cap(api: httpx.AsyncClient, client_for: Any,
                                              server: MediaServer) -> None:
    slow = server.add_drip("/slow.png", interval_s=0.2, max_s=3.0)
    started = time.monotonic()
    first = [asyncio.create_task(api.post("/v1/files/upload/url", json={"url": slow})) for _ in range(8)]
    await asyncio.sleep(0.5)
    extra = await api.post("/v1/files/upload/url", json={"url": slow})
    assert_envelope(extra, 429, "too_many_uploads")
    assert int(extra.headers["Retry-After"]) > 0
    assert time.monotonic() - started < 2.5  # refused at once, not after the others' fetches
    answers = await asyncio.gather(*first)
    assert all(a.status_code in (413, 422) for a in answers), [a.text for a in answers]


@pytest.mark.parametrize("target", ["http://2130706433/", "http://0x7f000001/", "http://127.1/",
                                    "http://127.0.0.1./hook", "http://[::ffff:127.0.0.1]/", "http://0177.0.0.1/"])
async def test_ip_literal_callbacks_are_refused_at_submit(api: httpx.AsyncClient, client_for: Any,
                                                          target: str) -> None:
    async with client_for(fetch_allow_hosts=[]) as strict:
        fox = await strict.post("/v1/videos/generations", json=create_body(callback_url=target))
        assert_envelope(fox, 422, "invalid_callback_url")
        assert fox.json()["error"]["param"] == "callback_url"
        ark = await strict.post(ARK_TASKS, json={
            "model": "seedance-2.0-fast-reference-to-video", "callback_url": target,
            "content": [{"type": "text", "text": "a cat"}, {"type": "image_url", "role": "reference_image",
                                                            "image_url": {"url": "http://127.0.0.1:9/a.png"}}]})
        assert ark.status_code == 400, ark.text
        assert ark.json()["error"]["param"] == "callback_url"
        assert (await strict.get("/v1/tasks")).json()["data"] == []
