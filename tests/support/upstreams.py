"""A refvid deployment in front of fake upstreams, as the acceptance tests drive it: `refvid serve` (API only)
and one `refvid worker` process, both subprocesses on loopback, sharing a data folder and a pool file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx

from tests.support.servers import KEY, Server, WorkerProcess, env_for

MODEL = "seedance-2.0-reference-to-video"


def pool_toml(*upstreams: dict[str, Any]) -> str:
    """`[[upstream]]` tables from dicts (a nested `request` or `accepts` dict becomes its sub-table)."""
    lines: list[str] = []
    for upstream in upstreams:
        lines.append("[[upstream]]")
        tables = {k: v for k, v in upstream.items() if isinstance(v, dict)}
        lines += [f"{key} = {json.dumps(value)}" for key, value in upstream.items() if key not in tables]
        for name, table in tables.items():
            lines.append(f"[upstream.{name}]")
            lines += [f"{key} = {json.dumps(value)}" for key, value in table.items()]
    return "\n".join(lines) + "\n"


def upstream(name: str, provider: str, url: str, **more: Any) -> dict[str, Any]:
    return {"name": name, "provider": provider, "url": url, "serves": [MODEL], "poll_interval_s": 0.1,
            "expected_run_s": 2.0, **more}


class Deployment:
    """serve + worker over one pool file; `restart_worker()` after a `worker.kill9()`."""

    def __init__(self, folder: Path, pool: str, **env: str):
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder
        (folder / "upstreams.toml").write_text(pool)
        self.env = env_for(REFVID_DATA_DIR=str(folder / "data"), REFVID_UPSTREAMS=str(folder / "upstreams.toml"),
                           REFVID_WORKERS="0", **env)
        self.server = Server(folder / "data", self.env)
        self.worker: WorkerProcess | None = None

    def start(self) -> Deployment:
        self.server.start()
        self.restart_worker()
        return self

    def restart_worker(self) -> None:
        self.worker = WorkerProcess(self.env, self.folder / "worker.log")

    def worker_log(self) -> str:
        return (self.folder / "worker.log").read_text(errors="replace")

    def stop(self) -> None:
        if self.worker is not None:
            self.worker.stop()
        self.server.stop()


def client_for(deployment: Deployment) -> httpx.Client:
    """A FoxAPI client of the deployment's `refvid serve`."""
    return httpx.Client(base_url=deployment.server.url, headers={"Authorization": f"Bearer {KEY}"}, timeout=30)


def submit(client: httpx.Client, payload: dict[str, Any]) -> str:
    """Create a task in the FoxAPI dialect; its id."""
    created = client.post("/v1/videos/generations", json=payload)
    assert created.status_code == 200, created.text
    return str(created.json()["id"])
