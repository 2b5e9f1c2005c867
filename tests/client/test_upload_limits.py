"""Files over the limit, against a real `refvid serve`: the Python client and `refvid generate` refuse them
before sending a byte (`FileTooLargeError` naming the file and the limit), and a client that sends one anyway
(raw httpx, which sends the whole body before reading) reads a 413 with the error envelope, not a reset."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from refvid import Client
from refvid.client.errors import FileTooLargeError
from refvid.contract import AUDIO_MAX_BYTES, MIB, UPLOAD_MAX_BYTES
from tests.support.servers import RunningServer, serve_refvid

pytestmark = pytest.mark.slow
SIXTY_MIB = 60 * MIB


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    yield from serve_refvid(tmp_path_factory.mktemp("upload-limits"))


@pytest.fixture(scope="module")
def big_png(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 60 MiB file that starts like a PNG (sparse: nothing much is written to disk)."""
    path = tmp_path_factory.mktemp("big") / "big.png"
    with path.open("wb") as out:
        out.write(b"\x89PNG\r\n\x1a\n")
        out.truncate(SIXTY_MIB)
    return path


class CountingTransport(httpx.AsyncHTTPTransport):
    """The real transport, recording the path of every request it sends."""

    def __init__(self) -> None:
        super().__init__()
        self.paths: list[str] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.paths.append(request.url.path)
        return await super().handle_async_request(request)


def upload_requests_seen(live: RunningServer) -> float:
    """POSTs to the upload route the server has counted, whatever their status (from GET /metrics)."""
    text = httpx.get(f"{live.url}/metrics").text
    pattern = r'refvid_http_requests_total\{[^}]*route="/v1/files/upload/stream"[^}]*\} (\S+)'
    return sum(float(value) for value in re.findall(pattern, text))


def test_client_refuses_a_60_mib_file_before_sending(live: RunningServer, big_png: Path) -> None:
    before = upload_requests_seen(live)
    transport = CountingTransport()
    with Client(live.url, live.key, transport=transport) as client:
        with pytest.raises(FileTooLargeError) as upload:
            client.upload(big_png)
        with pytest.raises(FileTooLargeError) as create:
            client.create("@Image1 waves", images=[big_png], resolution="480p", duration=4)
        wav = big_png.with_name("long.wav")
        with wav.open("wb") as out:
            out.truncate(AUDIO_MAX_BYTES + 1)  # a file the server would take, a task would refuse
        with pytest.raises(FileTooLargeError) as audio:  # the audio limit, before anything is sent
            client.create("@Image1 to @Audio1", images=["https://example.com/a.png"], audios=[wav])
    assert str(big_png) in upload.value.message and "62.9 MB, over the 50 MB limit" in upload.value.message
    assert (upload.value.filename, upload.value.limit_bytes) == (str(big_png), UPLOAD_MAX_BYTES)
    assert "over the 30 MB limit for one image" in create.value.message
    assert create.value.param == "image_urls[0]"
    assert (audio.value.param, audio.value.limit_bytes) == ("audio_urls[0]", AUDIO_MAX_BYTES)
    assert "15,000,001 bytes, over the 15 MB limit for one audio" in audio.value.message
    assert transport.paths == []  # not one request left the client
    assert upload_requests_seen(live) == before


def test_generate_refuses_a_60_mib_file_before_sending(live: RunningServer, big_png: Path) -> None:
    before = upload_requests_seen(live)
    done = subprocess.run([sys.executable, "-m", "refvid.cli", "generate", "-p", "@Image1 waves", "-i",
                           str(big_png)], env=live.client_env(), capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stderr
    assert "file_too_large" in done.stderr and "over the 30 MB limit for one image" in done.stderr
    assert big_png.name in done.stderr
    assert upload_requests_seen(live) == before


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "chunked"])
async def test_raw_upload_of_60_mib_reads_a_413(live: RunningServer, declared: bool) -> None:
    """Refused from the declared length, or (chunked) at the first byte past the limit: either way the
    server reads the rest before answering, so httpx reads the 413. (httpx's async client, the one
    `refvid.Client` uses, used to get `ReadError('')`: the server closed while it was still sending.)"""
    boundary = "refvid-test-boundary"
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.png\"\r\n"
            "Content-Type: image/png\r\n\r\n").encode() + b"\x89PNG\r\n\x1a\n"
    tail = f"\r\n--{boundary}--\r\n".encode()
    payload = head + b"\0" * (SIXTY_MIB - 8) + tail

    async def chunks() -> AsyncIterator[bytes]:
        for offset in range(0, len(payload), MIB):
            yield payload[offset:offset + MIB]

    async with httpx.AsyncClient(timeout=60) as http:
        response = await http.post(f"{live.url}/v1/files/upload/stream",
                                   content=payload if declared else chunks(),
                                   headers={"Authorization": f"Bearer {live.key}",
                                            "Content-Type": f"multipart/form-data; boundary={boundary}"})
    assert response.status_code == 413
    assert response.headers["connection"] == "close"
    error = response.json()["error"]
    assert (error["type"], error["code"], error["param"]) == ("file_too_large_error", "file_too_large", "file")
    assert error["message"] == "uploads are limited to 50 MB"
