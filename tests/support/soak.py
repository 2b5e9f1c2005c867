"""A soak run: many short compositor tasks through one `refvid serve`, and what its process holds meanwhile.

Shared by the soak test (tests/acceptance/test_soak.py, a few hundred tasks) and bench/soak.py (thousands).
The tasks are the cheapest the compositor renders: text-to-video (no reference to fetch), 480p, 4 s, no
audio. The server's descriptors, threads, engine children and RSS are read from /proc between batches, when
nothing is in flight, so a sample never counts a running task's own lease thread or pipe.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.support.servers import KEY, free_port

TASK_BODY = {"model": "seedance-2.0-fast-text-to-video", "prompt": "waves roll onto a beach", "resolution": "480p",
             "ratio": "16:9", "duration": 4, "generate_audio": False}


@dataclass(frozen=True)
class Sample:
    """The server process after `tasks` tasks finished."""

    tasks: int
    descriptors: int
    threads: int
    children: int
    rss_mib: float


def sample(pid: int, tasks: int) -> Sample:
    status = Path(f"/proc/{pid}/status").read_text()
    rss_kib = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:"))
    children = [child for task in Path(f"/proc/{pid}/task").iterdir()  # the children of each thread
                for child in (task / "children").read_text().split()]
    return Sample(tasks, len(os.listdir(f"/proc/{pid}/fd")), len(os.listdir(f"/proc/{pid}/task")), len(children),
                  rss_kib / 1024)


class SoakServer:
    """`refvid serve --workers N` on a free loopback port, logging to a file (a pipe nobody reads would fill
    up and stall the server), with short result/upload lifetimes and a short collection interval."""

    def __init__(self, data_dir: Path, *, workers: int = 2, result_ttl_s: int = 15, collect_interval_s: float = 2,
                 database_url: str | None = None):
        self.data_dir, self.port = data_dir, free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("REFVID_")}
        env.update({"REFVID_API_KEYS": KEY, "REFVID_LOG_LEVEL": "warning", "REFVID_RESULT_TTL_S": str(result_ttl_s),
                    "REFVID_COLLECT_INTERVAL_S": str(collect_interval_s)})
        if database_url:
            env["REFVID_DATABASE_URL"] = database_url
        data_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = data_dir.parent / "serve.log"
        self._log = self.log_path.open("w")
        cmd = [sys.executable, "-m", "refvid.cli", "serve", "--workers", str(workers), "--port", str(self.port),
               "--data-dir", str(data_dir)]
        self.proc = subprocess.Popen(cmd, env=env, stdout=self._log, stderr=subprocess.STDOUT)
        self.client = httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {KEY}"}, timeout=60)
        deadline = time.monotonic() + 60
        while True:
            assert self.proc.poll() is None, self.output()
            try:
                if self.client.get("/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, f"refvid serve did not become healthy:\n{self.output()}"
            time.sleep(0.2)

    def output(self) -> str:
        self._log.flush()
        return self.log_path.read_text()

    def run_batch(self, count: int, timeout_s: float = 300) -> list[dict[str, Any]]:
        """Submit `count` tasks and wait until every one is terminal; return them."""
        ids = []
        for _ in range(count):
            answer = self.client.post("/v1/videos/generations", json=TASK_BODY)
            assert answer.status_code == 200, answer.text
            ids.append(answer.json()["id"])
        deadline, done = time.monotonic() + timeout_s, dict[str, dict[str, Any]]()
        while len(done) < len(ids):
            assert time.monotonic() < deadline, f"{len(ids) - len(done)} tasks not terminal:\n{self.output()[-3000:]}"
            for task_id in ids:
                if task_id not in done:
                    task = self.client.get(f"/v1/tasks/{task_id}").json()
                    if task["status"] in ("completed", "failed", "cancelled"):
                        done[task_id] = task
            time.sleep(0.2)
        return [done[task_id] for task_id in ids]

    def metric(self, name: str, **labels: str) -> float:
        """One sample of GET /metrics (0 when absent)."""
        wanted = name + ("{" + ",".join(f'{k}="{v}"' for k, v in sorted(labels.items())) + "}" if labels else "")
        for line in self.client.get("/metrics").text.splitlines():
            if line.startswith(wanted + " "):
                return float(line.rsplit(" ", 1)[1])
        return 0.0

    def stop(self) -> str:
        self.client.close()
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
        return self.log_path.read_text()


def kept_files(data_dir: Path) -> list[str]:
    """The files refvid keeps per task or upload: results, uploads and the workers' scratch folders."""
    roots = [data_dir / "blobs" / "results", data_dir / "blobs" / "uploads", data_dir / "work"]
    return sorted(str(p.relative_to(data_dir)) for root in roots if root.is_dir() for p in root.rglob("*"))
