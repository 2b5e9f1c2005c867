"""Issue 14, part B, against a real `refvid serve`: slow clients are cut off, huge `data:` URLs are refused,
an oversized chunked upload never lands on disk, and bad input logs no traceback."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.media_servers import MediaServer
from tests.support.servers import KEY, Server, env_for, wait_terminal
from tests.support.upload_flood import read_latencies

pytestmark = pytest.mark.slow
MIB = 1024 * 1024
MODEL = "seedance-2.0-fast-reference-to-video"
KEY_B = "acceptance-key-b"
# A flood may make key B's reads (p99 of 200) this many times slower than just before it, plus FLOOD_SLACK_S for
# the CPU the flood itself takes on a shared 2-core machine: with a load average of 4 the GET p99 was 0.27 s
# where the baseline's was 15 ms; with a load average of 20, 0.6 s (and /healthz 1.3 s) where it was 45 ms. The
# stall this guards against (reads waiting for a request thread that a slow upload holds, up to its 20 s) is
# far past the bound however loaded the machine.
FLOOD_FACTOR, FLOOD_SLACK_S = 10, 2.0


@pytest.fixture
def api_only(tmp_path: Path) -> Iterator[Server]:
    running = Server(tmp_path / "data", env_for(REFVID_WORKERS="0", REFVID_RATE_LIMIT_PER_MINUTE="0")).start()
    yield running
    assert "Traceback" not in running.stop()


def create(image_url: str) -> bytes:
    return json.dumps({"model": MODEL, "prompt": "@Image1", "resolution": "480p", "duration": 4,
                       "image_urls": [image_url]}).encode()


def test_slow_headers_and_slow_bodies_are_cut_off(api_only: Server) -> None:
    port = int(api_only.url.rsplit(":", 1)[1])
    closed_at: dict[int, float] = {}
    started = time.monotonic()

    def drip(index: int, body: bool) -> None:
        with socket.create_connection(("127.0.0.1", port), timeout=40) as sock:
            try:
                if body:  # complete headers, then a body that stops after a few bytes
                    sock.sendall(b"POST /v1/files/upload/base64 HTTP/1.1\r\nHost: x\r\nContent-Type: "
                                 b"application/json\r\nAuthorization: Bearer " + KEY.encode() +
                                 b"\r\nContent-Length: 1000\r\n\r\n{\"file")
                else:
                    sock.sendall(b"GET /healthz HTTP/1.1\r\n")
                for _ in range(60):
                    sock.sendall(b"X-Drip: 1\r\n" if not body else b"")
                    sock.settimeout(1.0)
                    try:
                        if sock.recv(4096) == b"":
                            break
                    except TimeoutError:
                        continue
            except OSError:
                pass
        closed_at[index] = time.monotonic() - started

    threads = [threading.Thread(target=drip, args=(i, i == 300), daemon=True) for i in range(301)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    header_drips = [closed_at.get(i, 99.0) for i in range(300)]
    assert max(header_drips) < 20, sorted(header_drips)[-5:]
    assert closed_at.get(300, 99.0) < 35  # the body drip: 20 s without a byte
    assert httpx.get(f"{api_only.url}/healthz", timeout=5).status_code == 200


def test_huge_data_urls_are_refused_and_small_ones_stored_once(api_only: Server) -> None:
    headers = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}
    huge = create("data:image/png;base64," + "A" * (60 * MIB))
    with httpx.Client(base_url=api_only.url, headers=headers, timeout=120) as client:
        for _ in range(12):
            answer = client.post("/v1/videos/generations", content=huge)
            assert answer.status_code == 422, answer.text
            assert answer.json()["error"]["param"] == "image_urls[0]"
        assert client.get("/v1/tasks").json()["data"] == []
        five = client.post("/v1/videos/generations", content=create("data:image/png;base64," + "A" * (5 * MIB)))
        assert five.status_code == 200, five.text
        for _ in range(99):
            assert client.post("/v1/videos/generations", content=create("http://example.com/a.png")).is_success
        uploads = [p for p in (api_only.data_dir / "blobs" / "uploads").rglob("*") if p.is_file()]
        assert len(uploads) == 1
        assert (api_only.data_dir / "refvid.db").stat().st_size < 8 * MIB
        listed = client.get("/v1/tasks", params={"limit": 100})
        assert len(listed.json()["data"]) == 100
        # The listing carries no reference bytes: 100 tasks in well under the 5 MiB the data: URL held (a size,
        # not a time as before, so a loaded machine cannot fail it).
        assert len(listed.content) < 200_000, len(listed.content)


def test_a_chunked_gigabyte_never_reaches_the_disk(api_only: Server) -> None:
    tmp_dir = api_only.data_dir / "tmp"
    state = {"sent": 0, "largest": 0}

    def body() -> Iterator[bytes]:
        yield (b'--b0\r\nContent-Disposition: form-data; name="file"; filename="a.png"\r\n'
               b"Content-Type: image/png\r\n\r\n")
        chunk = b"\x00" * MIB
        while state["sent"] < 1024 * MIB:
            state["sent"] += MIB
            state["largest"] = max(state["largest"], sum(p.stat().st_size for p in tmp_dir.glob("*")))
            yield chunk

    headers = {"Authorization": f"Bearer {KEY}", "Content-Type": "multipart/form-data; boundary=b0"}
    try:
        answer = httpx.post(f"{api_only.url}/v1/files/upload/stream", content=body(), headers=headers, timeout=60)
        assert answer.status_code == 413, answer.text
    except httpx.HTTPError:
        pass  # the server may close the connection while the client is still sending: also a refusal
    assert state["sent"] < 1024 * MIB
    assert state["largest"] <= 50 * MIB
    assert not list(tmp_dir.glob("*"))


def test_disconnects_and_bad_input_log_no_traceback(api_only: Server) -> None:
    port = int(api_only.url.rsplit(":", 1)[1])
    for path in (b"/v1/videos/generations", b"/v1/files/upload/base64", b"/v1/files/upload/url"):
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(b"POST " + path + b" HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                         b"Authorization: Bearer " + KEY.encode() + b"\r\nContent-Length: 100000\r\n\r\n{\"mo")
        deep = "[" * 10_000 + "]" * 10_000
        answer = httpx.post(f"{api_only.url}{path.decode()}", content='{"model": ' + deep + "}",
                            headers={"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"})
        assert answer.status_code == 400, answer.text
    answer = httpx.get(f"{api_only.url}/v1/results/task-unified-1-aaaaaaaa/video.mp4",
                       params={"expires": "9" * 4301, "sig": "x"})
    assert answer.status_code == 403 and answer.json()["error"]["code"] == "invalid_signature"
    time.sleep(0.5)  # the fixture asserts on the log once the server has stopped


def test_trailing_dot_loopback_reference_is_a_forbidden_host(tmp_path: Path) -> None:
    running = Server(tmp_path / "data", env_for(REFVID_FETCH_ALLOW_HOSTS="allowed.invalid")).start()
    try:
        with httpx.Client(base_url=running.url, headers={"Authorization": f"Bearer {KEY}"}, timeout=30) as client:
            url = f"http://127.0.0.1.:{int(running.url.rsplit(':', 1)[1])}/healthz"
            created = client.post("/v1/videos/generations", content=create(url),
                                  headers={"Content-Type": "application/json"})
            assert created.status_code == 200, created.text
            task = wait_terminal(client, created.json()["id"], timeout_s=60)
            assert task["status"] == "failed"
            assert task["error"]["code"] == "reference_forbidden_host", task["error"]
    finally:
        running.stop()


def test_one_keys_uploads_do_not_slow_another_keys_reads(tmp_path: Path, server: MediaServer) -> None:
    """48 slow URL uploads and 8 × 60 MiB base64 uploads from key A (another process); key B's reads and
    /healthz go on. The machine the suite runs on may be shared and loaded, so the bounds are relative to the
    same reads measured on the same server just before the flood (see FLOOD_FACTOR)."""
    env = env_for(REFVID_WORKERS="0", REFVID_RATE_LIMIT_PER_MINUTE="0", REFVID_API_KEYS=f"{KEY},{KEY_B}")
    running = Server(tmp_path / "data", env).start()
    slow = server.add_drip("/slow.png", interval_s=0.5, max_s=20.0)
    try:
        with httpx.Client(base_url=running.url, headers={"Authorization": f"Bearer {KEY_B}"}, timeout=30) as b:
            created = b.post("/v1/videos/generations", content=create("http://example.com/a.png"),
                             headers={"Content-Type": "application/json"})
            task_id = created.json()["id"]
            # 200 reads, 15 ms apart: the flood's first seconds, as with 100 reads 30 ms apart, but a p99 that
            # one stall of the loaded CI machine (the other test process) cannot decide alone.
            baseline, baseline_health = read_latencies(b, task_id, 200, pause_s=0.015)
            flood = subprocess.Popen([sys.executable, "-m", "tests.support.upload_flood", running.url, KEY, slow],
                                     stdout=subprocess.PIPE, text=True)
            assert flood.stdout is not None and flood.stdout.readline().strip() == "started"
            time.sleep(0.5)
            gets, health = read_latencies(b, task_id, 200, pause_s=0.015)
            statuses = json.loads(flood.communicate(timeout=120)[0].strip().splitlines()[-1])
        # Reads go on while the uploads run: no stall of the kind this guards against (reads waiting for a
        # request thread that 48 slow uploads hold, for up to their 20 s). Bounds relative to the same reads
        # just before the flood, with room for the flood's own CPU use on a loaded machine; the tight
        # numbers (p99 within 200 ms of the baseline) are bench/hostile_reads.py's.
        assert gets[197] < FLOOD_FACTOR * baseline[197] + FLOOD_SLACK_S, (gets[-5:], baseline[-5:])  # p99
        assert health[197] < FLOOD_FACTOR * baseline_health[197] + FLOOD_SLACK_S, (health[-5:], baseline_health[-5:])
        assert statuses.count(429) >= 40, statuses  # the per-key cap answered at once
        assert 0 not in statuses, statuses
    finally:
        assert "Traceback" not in running.stop()
