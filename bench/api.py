"""Create-task and get-task throughput and latency at 64 concurrent clients: `refvid serve --workers 0`
next to a bare FastAPI handler returning the same JSON, measured in the same run on the same machine.

    .venv/bin/python bench/api.py [--requests 3000] [--concurrency 64]

Both servers run as single uvicorn processes on loopback; the load generator is one asyncio process
with an httpx client per server. Prints a table of requests/s and p50/p99 latency in ms.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

KEY = "bench-key"
BODY = {"model": "seedance-2.0-reference-to-video", "prompt": "@Image1 walks in the rain",
        "image_urls": ["https://example.com/a.png"], "resolution": "480p", "duration": 5}
BARE_APP = '''
import time
from fastapi import FastAPI
app = FastAPI()
TASK = {"created": 0, "id": "task-unified-1757165031-uyujaw3d", "model": "seedance-2.0-reference-to-video",
        "object": "video.generation.task", "progress": 0, "status": "pending",
        "task_info": {"can_cancel": True, "estimated_time": 6}, "type": "video",
        "usage": {"credits_reserved": 10, "user_group": "default"}}
@app.post("/v1/videos/generations")
async def create(body: dict) -> dict:
    return {**TASK, "created": int(time.time())}
@app.get("/v1/tasks/{task_id}")
async def get(task_id: str) -> dict:
    return {**TASK, "id": task_id}
'''


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(url: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not start")


async def load(base: str, method: str, path_for: list[str], n: int, concurrency: int) -> tuple[float, list[float]]:
    latencies: list[float] = []
    queue = iter(range(n))
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base, headers={"Authorization": f"Bearer {KEY}"}, limits=limits,
                                 timeout=60) as client:
        async def one_client() -> None:
            for i in queue:
                started = time.perf_counter()
                if method == "POST":
                    response = await client.post("/v1/videos/generations", json=BODY)
                else:
                    response = await client.get(path_for[i % len(path_for)])
                latencies.append(time.perf_counter() - started)
                if response.status_code != 200:
                    raise RuntimeError(f"{response.status_code}: {response.text}")

        started = time.perf_counter()
        await asyncio.gather(*(one_client() for _ in range(concurrency)))
        return time.perf_counter() - started, latencies


def row(name: str, elapsed: float, latencies: list[float]) -> tuple[str, float, float, float]:
    ordered = sorted(latencies)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return name, len(latencies) / elapsed, statistics.median(ordered) * 1000, p99 * 1000


async def measure(base: str, label: str, n: int, concurrency: int) -> list[tuple[str, float, float, float]]:
    await load(base, "POST", [], min(200, n), concurrency)  # warm-up
    elapsed, lat = await load(base, "POST", [], n, concurrency)
    async with httpx.AsyncClient(base_url=base, headers={"Authorization": f"Bearer {KEY}"}) as client:
        ids = [(await client.post("/v1/videos/generations", json=BODY)).json()["id"] for _ in range(50)]
    paths = [f"/v1/tasks/{task_id}" for task_id in ids]
    g_elapsed, g_lat = await load(base, "GET", paths, n, concurrency)
    return [row(f"{label} create", elapsed, lat), row(f"{label} get", g_elapsed, g_lat)]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=64)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="refvid-bench-"))
    (tmp / "bare_app.py").write_text(BARE_APP)
    env = {**os.environ, "REFVID_API_KEYS": KEY, "REFVID_LOG_LEVEL": "warning"}
    ours_port, bare_port = free_port(), free_port()
    procs = [
        subprocess.Popen([sys.executable, "-m", "refvid.cli", "serve", "--workers", "0", "--port", str(ours_port),
                          "--data-dir", str(tmp / "data")], env=env, stdout=subprocess.DEVNULL),
        subprocess.Popen([sys.executable, "-m", "uvicorn", "bare_app:app", "--port", str(bare_port),
                          "--log-level", "warning"], cwd=tmp, stdout=subprocess.DEVNULL),
    ]
    try:
        wait_ready(f"http://127.0.0.1:{ours_port}/healthz")
        wait_ready(f"http://127.0.0.1:{bare_port}/docs")
        rows = asyncio.run(measure(f"http://127.0.0.1:{bare_port}", "bare FastAPI", args.requests,
                                   args.concurrency))
        rows += asyncio.run(measure(f"http://127.0.0.1:{ours_port}", "refvid", args.requests, args.concurrency))
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(10)
    base = {name.split()[-1]: rps for name, rps, _, _ in rows[:2]}
    print(f"{args.requests} requests per row, {args.concurrency} concurrent clients, {os.cpu_count()} CPUs")
    print(f"| {'endpoint':<20} | {'req/s':>8} | {'p50 ms':>8} | {'p99 ms':>8} | {'vs bare':>8} |")
    print(f"|{'-' * 22}|{'-' * 10}|{'-' * 10}|{'-' * 10}|{'-' * 10}|")
    for name, rps, p50, p99 in rows:
        print(f"| {name:<20} | {rps:>8.0f} | {p50:>8.1f} | {p99:>8.1f} | {rps / base[name.split()[-1]]:>7.2f}x |")


if __name__ == "__main__":
    main()
