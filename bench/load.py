"""Load: N concurrent creates against `refvid serve --workers 0` → N distinct tasks, all retrievable, none
lost; create latency percentiles; the server's RSS before and after.

    .venv/bin/python bench/load.py [--creates 1000] [--database-url postgresql://…]

The server runs with default settings (limits included) as a single uvicorn process on loopback, on SQLite in
a temp folder unless --database-url is given. Every create is started at once on its own connection (one
asyncio process, `--creates` connections). Then every task is read back by id, the list endpoint is paged
through, and the database is counted. Prints a Markdown table (the `## Load` section of bench/RESULTS.md).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

KEY = "bench-load-key"
BODY = {"model": "seedance-2.0-reference-to-video", "prompt": "@Image1 walks in the rain",
        "image_urls": ["https://example.com/a.png"], "resolution": "480p", "duration": 5}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def raise_fd_limit(wanted: int) -> None:
    """Both ends hold one socket per concurrent request (the server inherits this limit)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(wanted, hard), hard))


def start_server(data_dir: Path, port: int, database_url: str | None) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("REFVID_")}
    env.update({"REFVID_API_KEYS": KEY, "REFVID_LOG_LEVEL": "warning"})
    if database_url:
        env["REFVID_DATABASE_URL"] = database_url
    cmd = [sys.executable, "-m", "refvid.cli", "serve", "--workers", "0", "--port", str(port),
           "--data-dir", str(data_dir)]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("refvid serve did not start")


async def create_all(client: httpx.AsyncClient, n: int) -> tuple[list[float], list[httpx.Response], float]:
    start = asyncio.Event()

    async def one() -> tuple[float, httpx.Response]:
        await start.wait()
        began = time.perf_counter()
        response = await client.post("/v1/videos/generations", json=BODY)
        return time.perf_counter() - began, response

    jobs = [asyncio.create_task(one()) for _ in range(n)]
    await asyncio.sleep(0.1)  # every coroutine is parked on the event: they all go at once
    began = time.perf_counter()
    start.set()
    done = await asyncio.gather(*jobs)
    return [d[0] for d in done], [d[1] for d in done], time.perf_counter() - began


async def verify(client: httpx.AsyncClient, ids: list[str]) -> dict[str, Any]:
    gets = await asyncio.gather(*(client.get(f"/v1/tasks/{task_id}") for task_id in ids))
    retrievable = sum(1 for g, task_id in zip(gets, ids, strict=True) if g.status_code == 200
                      and g.json()["id"] == task_id)
    listed: list[str] = []
    after = None
    while True:
        page = (await client.get("/v1/tasks", params={"limit": 100, **({"after": after} if after else {})})).json()
        listed += [t["id"] for t in page["data"]]
        after = page["last_id"]
        if not page["has_more"]:
            break
    return {"retrievable": retrievable, "listed": len(set(listed)), "listed_match": set(listed) == set(ids)}


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


async def main(creates: int, database_url: str | None) -> None:
    raise_fd_limit(2 * creates + 512)
    with tempfile.TemporaryDirectory(prefix="refvid-load-") as tmp:
        port = free_port()
        proc = start_server(Path(tmp) / "data", port, database_url)
        try:
            rss_idle = rss_mib(proc.pid)
            limits = httpx.Limits(max_connections=creates, max_keepalive_connections=creates)
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", limits=limits, timeout=300,
                                         headers={"Authorization": f"Bearer {KEY}"}) as client:
                latencies, responses, wall_s = await create_all(client, creates)
                rss_after_creates = rss_mib(proc.pid)
                statuses = {r.status_code for r in responses}
                ids = [r.json()["id"] for r in responses if r.status_code == 200]
                checked = await verify(client, ids)
            rss_after = rss_mib(proc.pid)
        finally:
            proc.terminate()
            proc.wait(30)
    ms = [v * 1000 for v in latencies]
    print(f"| creates | concurrency | status codes | distinct tasks | retrievable | listed | wall s | creates/s "
          f"| p50 ms | p90 ms | p99 ms | max ms | RSS idle MiB | after creates | after reads |\n|{'---|' * 15}")
    print(f"| {creates} | {creates} | {sorted(statuses)} | {len(set(ids))} | {checked['retrievable']} "
          f"| {checked['listed']}{'' if checked['listed_match'] else ' (MISMATCH)'} | {wall_s:.2f} "
          f"| {creates / wall_s:.0f} | {statistics.median(ms):.0f} | {percentile(ms, 90):.0f} "
          f"| {percentile(ms, 99):.0f} | {max(ms):.0f} | {rss_idle:.0f} | {rss_after_creates:.0f} "
          f"| {rss_after:.0f} |")
    lost = creates - len(set(ids))
    if lost or checked["retrievable"] != creates or not checked["listed_match"]:
        raise SystemExit(f"FAILED: {lost} creates lost, {checked}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--creates", type=int, default=1000)
    parser.add_argument("--database-url", default=None, help="default: SQLite in a temp folder")
    args = parser.parse_args()
    asyncio.run(main(args.creates, args.database_url))
