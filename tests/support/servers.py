"""`refvid serve` as a real subprocess on a free loopback port.

`Server`/`env_for`/`wait_terminal` drive it the way a FoxAPI user would (acceptance tests, key `KEY`);
`RunningServer`/`serve_refvid` start one for the client, CLI and browser tests (key `CLIENT_KEY`).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

KEY = "acceptance-key"
CLIENT_KEY = "client-test-key"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    def __init__(self, data_dir: Path, env: dict[str, str]):
        self.data_dir, self.env, self.port = data_dir, env, free_port()
        self.proc: subprocess.Popen[str] | None = None
        self.url = f"http://127.0.0.1:{self.port}"

    def start(self) -> Server:
        cmd = [sys.executable, "-m", "refvid.cli", "serve", "--port", str(self.port), "--data-dir", str(self.data_dir)]
        self.proc = subprocess.Popen(cmd, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            assert self.proc.poll() is None, self.proc.stdout.read() if self.proc.stdout else ""
            time.sleep(0.2)
        raise AssertionError("refvid serve did not become healthy")

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()

    def stop(self) -> str:
        """Stop the server (SIGTERM, then SIGKILL after 20 s); return its output and close the pipe."""
        if self.proc is None:
            return ""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stdout is None or self.proc.stdout.closed:
            return ""
        with self.proc.stdout:
            return self.proc.stdout.read()


class WorkerProcess:
    """`refvid worker` in its own session (a kill -9 takes everything it started with it)."""

    def __init__(self, env: dict[str, str], log: Path):
        self.log = log
        self.out = log.open("ab")
        self.proc = subprocess.Popen([sys.executable, "-m", "refvid.cli", "worker"], env=env, stdout=self.out,
                                     stderr=subprocess.STDOUT, start_new_session=True)

    def kill9(self) -> None:
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)
        self.out.close()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        if not self.out.closed:
            self.out.close()


def env_for(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("REFVID_")}
    env.update({"REFVID_API_KEYS": KEY, "REFVID_FETCH_ALLOW_HOSTS": "127.0.0.1", "REFVID_LEASE_S": "3",
                "REFVID_HEARTBEAT_S": "0.5", **extra})
    return env


def wait_terminal(client: httpx.Client, task_id: str, timeout_s: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        task: dict[str, Any] = client.get(f"/v1/tasks/{task_id}", params={"sync_upstream": "true"}).json()
        if task["status"] in ("completed", "failed", "cancelled"):
            return task
        time.sleep(0.2)
    raise AssertionError(f"{task_id} not terminal")


class RunningServer:
    """`python -m refvid.cli serve` on a free loopback port, with one API key."""

    def __init__(self, data_dir: Path):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = int(probe.getsockname()[1])
        self.url, self.key, self.data_dir = f"http://127.0.0.1:{self.port}", CLIENT_KEY, data_dir
        env = {k: v for k, v in os.environ.items() if not k.startswith("REFVID_")}
        env.update({"REFVID_API_KEYS": CLIENT_KEY, "REFVID_FETCH_ALLOW_HOSTS": "127.0.0.1",
                    "REFVID_LOG_LEVEL": "warning"})
        self.log = (data_dir.parent / "serve.log").open("w")
        cmd = [sys.executable, "-m", "refvid.cli", "serve", "--port", str(self.port), "--data-dir", str(data_dir)]
        self.proc = subprocess.Popen(cmd, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.output()
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.2)
        raise AssertionError(f"refvid serve did not become healthy:\n{self.output()}")

    def client_env(self) -> dict[str, str]:
        """The environment a client process needs to reach this server."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("REFVID_")}
        # A wide console, so rich never folds a long output path across lines in what the tests read.
        return {**env, "REFVID_BASE_URL": self.url, "REFVID_API_KEY": self.key, "COLUMNS": "400"}

    def output(self) -> str:
        if not self.log.closed:
            self.log.flush()
        return (self.data_dir.parent / "serve.log").read_text()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def serve_refvid(folder: Path) -> Iterator[RunningServer]:
    """Generator body for fixtures: start, yield, stop."""
    server = RunningServer(folder / "data")
    try:
        yield server
    finally:
        server.stop()
