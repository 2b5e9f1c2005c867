"""Create-task and get-task throughput and latency under wrk: `refvid serve --workers 0` next to a bare FastAPI
app returning the same JSON, measured in the same run on the same machine.

    .venv/bin/python bench/api.py [--duration 10] [--connections 64] [--database-url postgresql://… | --postgres]
                                  [--api-workers N] [--limits default|off]

The load generator is wrk (Debian package `wrk`; `./run bench` installs it), written in C, so the baseline is
capped by the server and not by its own client. Per-key limits are switched off unless `--limits default`.
Prints a table of requests/s, p50/p99 latency (ms), non-2xx answers and the ratio to the bare app.
`--postgres` starts a throwaway PostgreSQL server (tests/support/pg_server.py, fsync off) for the run.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
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
# A careful minimal async peer on the same PostgreSQL (with --postgres or a postgresql:// --database-url):
# psycopg's async pool on the event loop, one primary-key read per poll, one transaction writing the task and an
# outbox row per create. No auth, no validation, no estimate: the least a service that keeps its tasks must do.
PEER_APP = '''
import os, secrets, time
from contextlib import asynccontextmanager
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from psycopg_pool import AsyncConnectionPool

pool = AsyncConnectionPool(os.environ["PEER_DATABASE_URL"], min_size=10, max_size=10,
                           kwargs={"autocommit": True}, open=False)

@asynccontextmanager
async def lifespan(app):
    await pool.open(wait=True)
    async with pool.connection() as conn:
        await conn.execute("CREATE TABLE IF NOT EXISTS peer_tasks (id TEXT PRIMARY KEY, owner TEXT NOT NULL, "
                           "model TEXT NOT NULL, status TEXT NOT NULL, spec TEXT NOT NULL, "
                           "created_at DOUBLE PRECISION NOT NULL)")
        await conn.execute("CREATE TABLE IF NOT EXISTS peer_outbox (id BIGSERIAL PRIMARY KEY, "
                           "task_id TEXT NOT NULL, event TEXT NOT NULL, created_at DOUBLE PRECISION NOT NULL)")
    yield
    await pool.close()

app = FastAPI(lifespan=lifespan)

def task(id, model, status, created):
    return {"created": int(created), "id": id, "model": model, "object": "video.generation.task", "progress": 0,
            "status": status, "task_info": {"can_cancel": True, "estimated_time": 6}, "type": "video",
            "usage": {"credits_reserved": 10, "user_group": "default"}}

@app.post("/v1/videos/generations")
async def create(body: dict) -> dict:
    task_id, now = "task-peer-" + secrets.token_hex(8), time.time()
    async with pool.connection() as conn, conn.transaction():
        await conn.execute("INSERT INTO peer_tasks (id, owner, model, status, spec, created_at) "
                           "VALUES (%s, %s, %s, 'pending', %s, %s)", (task_id, "bench", body["model"], str(body), now))
        await conn.execute("INSERT INTO peer_outbox (task_id, event, created_at) VALUES (%s, 'created', %s)",
                           (task_id, now))
    return task(task_id, body["model"], "pending", now)

@app.get("/v1/tasks/{task_id}")
async def get(task_id: str):
    async with pool.connection() as conn:
        cur = await conn.execute("SELECT id, model, status, created_at FROM peer_tasks WHERE id = %s", (task_id,))
        row = await cur.fetchone()
    if row is None:
        return JSONResponse({"error": "not found"}, status_code=404)
    return task(*row)
'''
# wrk scripts: the request (a POST body or GET paths cycling over real task ids) and a `done` hook that prints
# one JSON line with the numbers, so nothing depends on wrk's human-readable layout.
LUA_DONE = '''
done = function(summary, latency, requests)
  io.write(string.format('RESULT {"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, '
    .. '"non2xx": %d, "errors": %d}\\n', summary.requests, summary.duration, latency:percentile(50),
    latency:percentile(99), summary.errors.status, summary.errors.connect + summary.errors.read
    + summary.errors.write + summary.errors.timeout))
end
'''


@dataclass(frozen=True)
class Row:
    name: str
    rps: float
    p50_ms: float
    p99_ms: float
    non2xx: int
    errors: int
    cpu_ms: float = 0.0  # the server's CPU time (all its processes) per request


def cpu_s(pid: int) -> float:
    """CPU seconds (user + system) of a process and its children so far (Linux /proc; 0 elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK") + sum(cpu_s(int(c)) for c in children)


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


def lua_post() -> str:
    return (f'wrk.method = "POST"\nwrk.body = {json.dumps(json.dumps(BODY))}\n'
            f'wrk.headers["Content-Type"] = "application/json"\nwrk.headers["Authorization"] = "Bearer {KEY}"\n'
            + LUA_DONE)


def lua_get(paths: list[str]) -> str:
    listed = ", ".join(json.dumps(p) for p in paths)
    return (f'paths = {{{listed}}}\ni = 0\nrequest = function()\n  i = i % #paths + 1\n'
            f'  return wrk.format("GET", paths[i], {{["Authorization"] = "Bearer {KEY}"}})\nend\n' + LUA_DONE)


def run_wrk(url: str, script: str, name: str, args: argparse.Namespace, tmp: Path, pid: int = 0) -> Row:
    path = tmp / f"{name.replace(' ', '_')}.lua"
    path.write_text(script)
    cpu_before = cpu_s(pid)
    out = subprocess.run(["wrk", f"-t{args.threads}", f"-c{args.connections}", f"-d{args.duration}s",
                          "--timeout", "10s", "-s", str(path), url], capture_output=True, text=True, check=True)
    line = next(line for line in out.stdout.splitlines() if line.startswith("RESULT "))
    data = json.loads(line.removeprefix("RESULT "))
    return Row(name, data["requests"] / (data["duration_us"] / 1e6), data["p50_us"] / 1000,
               data["p99_us"] / 1000, data["non2xx"], data["errors"],
               (cpu_s(pid) - cpu_before) * 1000 / max(1, data["requests"]))


def measure(base: str, label: str, pid: int, args: argparse.Namespace, tmp: Path) -> list[Row]:
    warm = argparse.Namespace(**{**vars(args), "duration": 2})
    create_url = f"{base}/v1/videos/generations"
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {KEY}"}) as client:
        # before the create rows: with `--limits default` they end at REFVID_MAX_OPEN_TASKS (429s, counted)
        ids = [client.post("/v1/videos/generations", json=BODY).json()["id"] for _ in range(100)]
    run_wrk(create_url, lua_post(), f"{label} warm", warm, tmp)
    create = run_wrk(create_url, lua_post(), f"{label} create", args, tmp, pid)
    get = run_wrk(base, lua_get([f"/v1/tasks/{task_id}" for task_id in ids]), f"{label} get", args, tmp, pid)
    return [create, get]


def start_servers(args: argparse.Namespace,
                  tmp: Path) -> tuple[list[subprocess.Popen[bytes]], dict[str, tuple[str, int]]]:
    """The bare app, (on PostgreSQL) the careful peer and refvid, in the order measured: label → (base URL, pid)."""
    (tmp / "bare_app.py").write_text(BARE_APP)
    (tmp / "peer_app.py").write_text(PEER_APP)
    env = {**os.environ, "REFVID_API_KEYS": KEY, "REFVID_LOG_LEVEL": "warning"}
    if args.limits == "off":
        env |= {"REFVID_RATE_LIMIT_PER_MINUTE": "0", "REFVID_MAX_OPEN_TASKS": "0"}
    if args.database_url:
        env["REFVID_DATABASE_URL"] = args.database_url
    ours, bare = free_port(), free_port()
    serve = [sys.executable, "-m", "refvid.cli", "serve", "--workers", "0", "--port", str(ours),
             "--data-dir", str(tmp / "data")]
    if args.api_workers > 1:
        serve += ["--api-workers", str(args.api_workers)]
    uvicorn = [sys.executable, "-m", "uvicorn", "--log-level", "warning", "--no-access-log"]
    procs = [
        subprocess.Popen(serve, env=env, stdout=subprocess.DEVNULL),
        subprocess.Popen([*uvicorn, "bare_app:app", "--port", str(bare)], cwd=tmp, stdout=subprocess.DEVNULL),
    ]
    urls = {"bare FastAPI": (f"http://127.0.0.1:{bare}", procs[1].pid)}
    if args.database_url and args.database_url.startswith("postgres"):
        peer = free_port()
        procs.append(subprocess.Popen([*uvicorn, "peer_app:app", "--port", str(peer)], cwd=tmp,
                                      env={**os.environ, "PEER_DATABASE_URL": args.database_url},
                                      stdout=subprocess.DEVNULL))
        urls["careful peer"] = (f"http://127.0.0.1:{peer}", procs[2].pid)
    urls["refvid"] = (f"http://127.0.0.1:{ours}", procs[0].pid)
    return procs, urls


@contextlib.contextmanager
def throwaway_postgres(args: argparse.Namespace) -> Iterator[None]:
    """With --postgres and no --database-url: a private server for this run, in args.database_url."""
    if not args.postgres or args.database_url:
        yield
        return
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the repo root, for tests.support
    from tests.support.pg_server import private_server

    with private_server() as server:
        args.database_url = server.create_database()
        yield


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=int, default=10, help="seconds per row")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--database-url", default=None, help="refvid's store (default: SQLite in a temp dir)")
    parser.add_argument("--postgres", action="store_true", help="a throwaway PostgreSQL server as the store")
    parser.add_argument("--api-workers", type=int, default=1)
    parser.add_argument("--limits", choices=("off", "default"), default="off")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk not found: apt-get install wrk (./run bench installs it)")
    tmp = Path(tempfile.mkdtemp(prefix="refvid-bench-"))
    with throwaway_postgres(args):
        procs, urls = start_servers(args, tmp)
        try:
            for label, (url, _) in urls.items():
                wait_ready(f"{url}/healthz" if label == "refvid" else f"{url}/docs")
            rows = [row for label, (url, pid) in urls.items() for row in measure(url, label, pid, args, tmp)]
        finally:
            for proc in procs:
                proc.terminate()
                proc.wait(10)
    store = "PostgreSQL" if args.database_url else "SQLite"
    print(f"wrk -t{args.threads} -c{args.connections} -d{args.duration}s, {store}, limits {args.limits}, "
          f"{args.api_workers} API process(es), {os.cpu_count()} CPUs")
    print(f"| {'endpoint':<20} | {'req/s':>8} | {'p50 ms':>7} | {'p99 ms':>7} | {'non-2xx':>7} | {'vs bare':>7} | "
          f"{'CPU ms/req':>10} |")
    print(f"|{'-' * 22}|{'-' * 10}|{'-' * 9}|{'-' * 9}|{'-' * 9}|{'-' * 9}|{'-' * 12}|")
    base = {row.name.split()[-1]: row.rps for row in rows[:2]}
    for row in rows:
        ratio = row.rps / base[row.name.split()[-1]]
        print(f"| {row.name:<20} | {row.rps:>8.0f} | {row.p50_ms:>7.1f} | {row.p99_ms:>7.1f} | "
              f"{row.non2xx + row.errors:>7} | {ratio:>6.2f}x | {row.cpu_ms:>10.3f} |")


if __name__ == "__main__":
    main()
