"""Scale-out on PostgreSQL with real processes: `refvid serve --workers 0` API nodes and `refvid worker`s.

The database is a throwaway PostgreSQL started by the test session (tests/support/pg_server.py); results live in a
shared folder (`REFVID_STORAGE_URL=file://…`), as on an NFS mount. Leases are short (3 s, heartbeat 0.5 s)
so that a killed worker's task comes back quickly.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support import media_factory as mf
from tests.support.pg_server import PgServer, free_port
from tests.support.waiting import wait_until

pytestmark = pytest.mark.slow
KEY = "scale-out-key"
LEASE_S = 3.0
psycopg = pytest.importorskip("psycopg")


class Node:
    """One refvid process; its output goes to a file (a pipe nobody reads would fill up and block it)."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path):
        self.log = log
        self.out = log.open("wb")
        self.proc = subprocess.Popen([sys.executable, "-m", "refvid.cli", *args], env=env, stdout=self.out,
                                     stderr=subprocess.STDOUT)

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_for_line(self, marker: str, timeout_s: float = 60) -> str:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for line in self.output().splitlines():
                if marker in line:
                    return line
            assert self.proc.poll() is None, f"exited early:\n{self.output()}"
            time.sleep(0.1)
        raise AssertionError(f"no {marker!r} in:\n{self.output()}")

    def stop(self, sig: int = signal.SIGTERM, timeout_s: float = 30) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.out.close()
        return int(self.proc.returncode)


class Cluster:
    """API nodes and workers sharing one database and one storage folder."""

    def __init__(self, root: Path, database_url: str):
        self.root = root
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("REFVID_")}
        self.env.update({
            "REFVID_DATABASE_URL": database_url, "REFVID_STORAGE_URL": f"file://{root / 'blobs'}",
            "REFVID_API_KEYS": KEY, "REFVID_FETCH_ALLOW_HOSTS": "127.0.0.1", "REFVID_LEASE_S": str(LEASE_S),
            "REFVID_HEARTBEAT_S": "0.5", "REFVID_DATABASE_POOL_SIZE": "4", "NO_PROXY": "127.0.0.1",
        })
        self.nodes: list[Node] = []

    def api(self, name: str) -> str:
        port = free_port()
        node = Node(["serve", "--workers", "0", "--port", str(port), "--data-dir", str(self.root / name)],
                    self.env, self.root / f"{name}.log")
        self.nodes.append(node)
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/healthz", timeout=1, trust_env=False).status_code == 200:
                    return url
            except httpx.HTTPError:
                assert node.proc.poll() is None, node.output()
            time.sleep(0.1)
        raise AssertionError(f"API node {name} did not start:\n{node.output()}")

    def worker(self, name: str) -> tuple[Node, str]:
        """A `refvid worker`; returns it and its worker id."""
        node = Node(["worker", "--data-dir", str(self.root / name)], self.env, self.root / f"{name}.log")
        self.nodes.append(node)
        line = node.wait_for_line("refvid worker ")
        return node, line.split("refvid worker ", 1)[1].split()[0]

    def close(self) -> None:
        for node in self.nodes:
            node.stop()


@pytest.fixture
def cluster(tmp_path: Path, pg_server: PgServer) -> Iterator[Cluster]:
    running = Cluster(tmp_path, pg_server.create_database())
    yield running
    running.close()


@pytest.fixture
def image_url(media_server: tuple[str, Path]) -> str:
    base, folder = media_server
    mf.make_image(folder / "subject.png", 640, 480, seed=5)
    return f"{base}/subject.png"


def client(url: str) -> httpx.Client:
    return httpx.Client(base_url=url, headers={"Authorization": f"Bearer {KEY}"}, timeout=30, trust_env=False)


def request_body(image_url: str) -> dict[str, Any]:
    return {"model": "seedance-2.0-reference-to-video", "prompt": "@Image1 walks through the scene",
            "image_urls": [image_url], "resolution": "480p", "ratio": "16:9", "duration": 4,
            "generate_audio": False}


def db_rows(database_url: str, sql: str, *params: Any) -> list[dict[str, Any]]:
    with psycopg.connect(database_url, row_factory=psycopg.rows.dict_row) as conn:
        rows: list[dict[str, Any]] = conn.execute(sql, params).fetchall()
    return rows



def test_kill9_one_of_three_workers_every_task_completes_exactly_once(cluster: Cluster, image_url: str) -> None:
    database_url = cluster.env["REFVID_DATABASE_URL"]
    api_url = cluster.api("api")
    workers: dict[str, Node] = {}  # worker id → process
    for i in range(3):
        node, worker_id = cluster.worker(f"worker{i}")
        workers[worker_id] = node

    # 1. Sixty tasks, submitted concurrently.
    with client(api_url) as api, ThreadPoolExecutor(12) as pool:
        responses = list(pool.map(lambda _: api.post("/v1/videos/generations", json=request_body(image_url)),
                                  range(60)))
    assert all(r.status_code == 200 for r in responses), [r.text for r in responses if r.status_code != 200]
    ids = {r.json()["id"] for r in responses}
    assert len(ids) == 60

    # 2. kill -9 a worker while its engine renders (progress past the reference stage).
    # (Progress 10 ends the reference stage; below 80 the output is far from being recorded.)
    victim = wait_until(lambda: db_rows(database_url, "SELECT id, worker_id FROM tasks WHERE status = "
                                        "'processing' AND progress > 10 AND progress < 80 LIMIT 1"),
                        90, "a task rendering", 0.02)[0]
    workers[victim["worker_id"]].stop(signal.SIGKILL)
    killed_at = time.monotonic()

    # 3. After the lease expires (plus a reaper pass), nothing is left processing under the dead worker.
    time.sleep(max(0.0, killed_at + LEASE_S + 2.0 - time.monotonic()))
    assert db_rows(database_url, "SELECT id FROM tasks WHERE worker_id = %s AND status = 'processing'",
                   victim["worker_id"]) == []

    # 4. Every task completes; each appears exactly once, with one result.
    wait_until(lambda: not db_rows(database_url, "SELECT id FROM tasks WHERE status NOT IN "
                                   "('completed', 'failed', 'cancelled') LIMIT 1"), 170, "all tasks", 0.5)
    with client(api_url) as api:
        listed = api.get("/v1/tasks", params={"limit": 100}).json()
    assert sorted(t["id"] for t in listed["data"]) == sorted(ids) and not listed["has_more"]
    assert {t["status"] for t in listed["data"]} == {"completed"}
    assert all(len(t["results"]) == 1 for t in listed["data"])
    rows = db_rows(database_url, "SELECT id, status, attempts, worker_id, result FROM tasks")
    assert len(rows) == 60 and {r["status"] for r in rows} == {"completed"}
    retried = next(r for r in rows if r["id"] == victim["id"])
    assert retried["attempts"] == 2  # the killed worker's task: one retry
    assert retried["worker_id"] != victim["worker_id"]
    for row in rows:  # one stored output per task, written by the attempt that recorded the result
        assert f'/{row["id"]}/{row["attempts"]}/' in row["result"]
        assert [p.name for p in (cluster.root / "blobs" / "results" / row["id"]).iterdir()] == [
            str(row["attempts"])]

    # 5. The survivors shut down gracefully (SIGTERM) and deregister.
    for node in workers.values():
        if node.proc.poll() is None:
            assert node.stop() == 0, node.output()
    assert db_rows(database_url, "SELECT id FROM workers") == [{"id": victim["worker_id"]}]


def test_two_api_nodes_share_tasks_and_sigterm_hands_back_or_finishes(cluster: Cluster, image_url: str) -> None:
    database_url = cluster.env["REFVID_DATABASE_URL"]
    node_a, node_b = cluster.api("api-a"), cluster.api("api-b")
    with client(node_a) as a, client(node_b) as b:
        # 1. Created on A, seen, listed and cancelled on B (no worker yet: it stays pending).
        first = a.post("/v1/videos/generations", json=request_body(image_url)).json()
        assert b.get(f"/v1/tasks/{first['id']}").json()["status"] == "pending"
        assert [t["id"] for t in b.get("/v1/tasks").json()["data"]] == [first["id"]]
        assert b.post(f"/v1/tasks/{first['id']}/cancel").json()["status"] == "cancelled"
        assert a.get(f"/v1/tasks/{first['id']}").json()["status"] == "cancelled"

        # 2. Created on B, run by a worker, stopped by SIGTERM mid-run: it finishes or goes back to the
        #    queue without counting an attempt; never left processing.
        second = b.post("/v1/videos/generations", json=request_body(image_url)).json()
        worker, _ = cluster.worker("worker-1")
        wait_until(lambda: a.get(f"/v1/tasks/{second['id']}").json()["status"] == "processing", 60, "processing")
        # Up to 10 s of grace, then a hand-back of up to 10 s: allow for a loaded machine before calling it hung.
        assert worker.stop(signal.SIGTERM, timeout_s=60) == 0, worker.output()
        [row] = db_rows(database_url, "SELECT status, attempts, lease_token FROM tasks WHERE id = %s",
                        second["id"])
        assert row["lease_token"] is None and (row["status"], row["attempts"]) in {("completed", 1),
                                                                                    ("pending", 0)}, row
        if row["status"] == "pending":
            cluster.worker("worker-2")
        done = wait_until(lambda: (t := a.get(f"/v1/tasks/{second['id']}").json())["status"] == "completed"
                          and t, 90, "completion")
        # 3. The result written by a worker is served by both API nodes (shared database secret + storage).
        for base in (node_a, node_b):
            url = b.get(f"/v1/tasks/{second['id']}").json()["results"][0]["url"].replace(node_b, base)
            assert httpx.get(url, timeout=30, trust_env=False).status_code == 200
        assert done["results"][0]["url"].startswith(node_a)
