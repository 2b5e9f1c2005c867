"""Issue 27, against a real `refvid serve` (httptools, the parser it runs): the header limits hold, in the
dialect's error shape, without the server buffering what it refuses; a client that stops reading a download
is cut off after the write deadline; an over-limit body gets a 413 the client can read."""

from __future__ import annotations

import base64
import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.servers import KEY, Server, env_for

pytestmark = pytest.mark.slow
MIB = 1024 * 1024
WRITE_TIMEOUT_S = 2


@pytest.fixture(scope="module")
def edge_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    env = env_for(REFVID_WORKERS="0", REFVID_WRITE_TIMEOUT_S=str(WRITE_TIMEOUT_S))
    running = Server(tmp_path_factory.mktemp("edge") / "data", env).start()
    yield running
    assert "Traceback" not in running.stop()


def rss_bytes(server: Server) -> int:
    assert server.proc is not None
    for line in Path(f"/proc/{server.proc.pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def exchange(server: Server, head: bytes, chunk_bytes: int = MIB) -> bytes:
    """Send `head` (a request's line and headers) in chunks, then read until the server closes; the answer
    so far (b"" if the connection was reset before one came)."""
    answer = b""
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        try:
            for start in range(0, len(head), chunk_bytes):
                sock.sendall(head[start:start + chunk_bytes])
        except OSError:
            pass  # refused mid-send: the answer, if any, is waiting
        try:
            while chunk := sock.recv(65536):
                answer += chunk
        except OSError:
            pass
    return answer


def status_and_error(answer: bytes) -> tuple[int, dict[str, object]]:
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), json.loads(body)["error"]


def test_huge_and_numerous_headers_are_refused_without_being_buffered(edge_server: Server) -> None:
    big = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (4 * MIB) + b"\r\n\r\n"
    many = b"GET /v1/tasks HTTP/1.1\r\nHost: x\r\n" + b"X-A: 1\r\n" * 500_000 + b"\r\n"
    before = rss_bytes(edge_server)
    peak = [before]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], rss_bytes(edge_server))
            time.sleep(0.02)

    sampler = threading.Thread(target=sample)
    sampler.start()
    answers: list[bytes] = []
    senders = [threading.Thread(target=lambda head=head: answers.append(exchange(edge_server, head)))
               for head in (big, many, big, many)]  # four connections at once
    for thread in senders:
        thread.start()
    for thread in senders:
        thread.join(60)
    done.set()
    sampler.join()
    assert len(answers) == 4
    for answer in answers:
        assert answer == b"" or status_and_error(answer)[0] == 431, answer[:200]
    assert peak[0] - before < 4 * 16 * MIB, (before, peak[0])  # under 16 MB per connection
    assert httpx.get(f"{edge_server.url}/healthz", timeout=5).status_code == 200


def test_an_over_long_url_gets_the_dialects_json_error(edge_server: Server) -> None:
    for path, shape in ((b"/v1/tasks/", "code"), (b"/api/v3/contents/generations/tasks/", "type")):
        answer = exchange(edge_server, b"GET " + path + b"a" * (70 * 1024) + b" HTTP/1.1\r\nHost: x\r\n"
                          b"Authorization: Bearer " + KEY.encode() + b"\r\n\r\n")
        status, error = status_and_error(answer)
        assert status == 414
        assert error[shape] == ("uri_too_long" if shape == "code" else "BadRequest"), error


def test_a_client_that_stops_reading_a_download_is_cut_off(edge_server: Server) -> None:
    headers = {"Authorization": f"Bearer {KEY}"}
    png = b"\x89PNG\r\n\x1a\n" + bytes(24 * MIB)
    uploaded = httpx.post(f"{edge_server.url}/v1/files/upload/base64", headers=headers, timeout=60,
                          json={"file_data": base64.b64encode(png).decode(), "file_name": "big.png"})
    assert uploaded.status_code == 200, uploaded.text
    url = httpx.URL(uploaded.json()["url"])
    target = url.raw_path
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        sock.connect(("127.0.0.1", edge_server.port))
        sock.sendall(b"GET " + target + b" HTTP/1.1\r\nHost: x\r\n\r\n")
        time.sleep(WRITE_TIMEOUT_S + 3)  # not reading: the server's send buffer fills, then waits on us
        received = 0
        sock.settimeout(10)
        try:
            while chunk := sock.recv(MIB):
                received += len(chunk)
        except OSError:
            pass  # reset: cut off
    assert received < len(png), received  # the answer stopped short: the connection was cut


def test_a_body_declared_over_the_limit_gets_a_413_the_client_reads(edge_server: Server) -> None:
    body = b'{"model": "x", "prompt": "' + b"a" * (70 * MIB) + b'"}'
    answer = httpx.post(f"{edge_server.url}/v1/videos/generations", content=body, timeout=60,
                        headers={"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"})
    assert answer.status_code == 413 and answer.json()["error"]["code"] == "body_too_large"
