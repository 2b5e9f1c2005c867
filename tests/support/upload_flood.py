"""`python -m tests.support.upload_flood BASE_URL KEY SLOW_URL`: one key's upload flood, from its own process
(so that the client measuring another key's latency does not share a GIL with 480 MiB of sending), and
`read_latencies`, which measures that other key's reads (tests/acceptance/test_hostile_clients.py and
bench/hostile_reads.py).

48 concurrent `POST /v1/files/upload/url` of SLOW_URL and 8 concurrent 60 MiB `POST /v1/files/upload/base64`;
prints the status codes as one JSON list when all are answered."""

from __future__ import annotations

import base64
import json
import sys
import threading
import time

import httpx

MIB = 1024 * 1024


def main(base_url: str, key: str, slow_url: str) -> None:
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    png = base64.b64encode(b"\x89PNG\r\n\x1a\n" + bytes(45 * MIB - 8)).decode()
    big = json.dumps({"file_data": png, "file_name": "big.png"}).encode()
    statuses: list[int] = []

    def upload(path: str, content: bytes) -> None:
        try:
            statuses.append(httpx.post(f"{base_url}{path}", content=content, headers=headers, timeout=120)
                            .status_code)
        except httpx.HTTPError:
            statuses.append(0)

    jobs = [("/v1/files/upload/url", json.dumps({"url": slow_url}).encode())] * 48
    jobs += [("/v1/files/upload/base64", big)] * 8
    threads = [threading.Thread(target=upload, args=job) for job in jobs]
    for thread in threads:
        thread.start()
    print("started", flush=True)
    for thread in threads:
        thread.join()
    print(json.dumps(statuses), flush=True)


def read_latencies(client: httpx.Client, task_id: str, count: int,
                   pause_s: float = 0.03) -> tuple[list[float], list[float]]:
    """Seconds taken by `count` GET /v1/tasks/{id} (sorted) and as many GET /healthz, `pause_s` apart."""
    gets, health = [], []
    for _ in range(count):
        began = time.monotonic()
        assert client.get(f"/v1/tasks/{task_id}").status_code == 200
        gets.append(time.monotonic() - began)
        began = time.monotonic()
        assert client.get("/healthz").status_code == 200
        health.append(time.monotonic() - began)
        time.sleep(pause_s)
    return sorted(gets), sorted(health)


if __name__ == "__main__":
    main(*sys.argv[1:4])
