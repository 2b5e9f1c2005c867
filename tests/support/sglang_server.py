"""A real SGLang diffusion server (sglang 0.5.23, `--backend diffusers`) for the test session, on a CPU.

The refvid SGLang provider is proven against the real thing, not only a fake: this starts `sglang serve` from
its own virtualenv (tests/support/sglang/install.sh, cached outside the clone; `./run test` runs it first) on a
tiny random Wan 2.1 text-to-video folder (tests/support/sglang/tiny_wan.py), on a free loopback port, waits
until `/health` answers, and stops the whole process group at the end. How it runs on a CPU, and what it
answers: ../shared/reference/upstreams.md §0 and §2.

It costs about 2 GB of memory and 20 s to start (minutes on a loaded machine), so it starts only when a test
asks for it, and once per run: with pytest-xdist the first worker to ask starts it under a file lock and the
other reuses it; the process that owns the run (xdist's controller, else pytest) stops it at session end.
Servers left behind by a killed run (their owner's pid gone) are stopped when the next one starts.

Between the tests that use it the server is paused (SIGSTOP to its process group, SIGCONT when a test asks for it,
counted across xdist workers under the same lock): its scheduler busy-polls a whole core while idle, which for the
rest of a run on 2 cores would take half the machine from every other test.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.support.pg_server import free_port, pid_alive
from tests.support.sglang.tiny_wan import FOLDER_NAME, tiny_wan_folder

INSTALLER = Path(__file__).parent / "sglang" / "install.sh"
START_TIMEOUT_S = 240.0  # ~20 s on an idle 2-core machine; several times that while other suites run
_PREFIX = "refvid-sglang-"
_OWNER_FILE, _GROUP_FILE, _STATE_FILE, _USERS_FILE = "owner.pid", "server.pgid", "server.json", "users"


def sglang_cache() -> Path:
    """Where install.sh keeps the virtualenv (and the tiny model folder lives beside it)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "refvid" / "sglang-0.5.23"


def sglang_venv() -> Path:
    """The installed virtualenv: install.sh answers at once when its stamp matches, else installs."""
    done = subprocess.run(["bash", str(INSTALLER)], capture_output=True, text=True, timeout=1200, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"tests/support/sglang/install.sh failed:\n{done.stderr[-3000:]}")
    return Path(done.stdout.strip().splitlines()[-1])


def _port_pair() -> int:
    """A free port P whose neighbour P+1 is free too: SGLang's ZMQ broker for offline jobs listens there."""
    for _ in range(50):
        port = free_port()
        with contextlib.suppress(OSError), socket.socket() as probe:
            probe.bind(("127.0.0.1", port + 1))
            return port
    raise RuntimeError("no two adjacent free loopback ports")


@dataclass
class SGLangServer:
    """One running `sglang serve`; `url` is its base URL (the OpenAI-style API is under /v1)."""

    root: Path
    port: int
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def output_dir(self) -> Path:
        return self.root / "out"

    @property
    def model_name(self) -> str:
        """The served model's folder name, as a deployment of the real model would call it."""
        return FOLDER_NAME

    def log_tail(self, chars: int = 4000) -> str:
        with contextlib.suppress(OSError):
            return (self.root / "server.log").read_text(errors="replace")[-chars:]
        return ""

    def start(self, venv: Path, model: Path) -> None:
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        env.update({"SGLANG_DIFFUSION_PLATFORM_OVERRIDE": "cpu", "CUDA_VISIBLE_DEVICES": "", "HF_HUB_OFFLINE": "1"})
        # sglang's scheduler polls in a busy loop (a whole core while idle, seen with 0.5.23 on this CPU), and the
        # server lives until the session ends: niced, it takes that core only when the rest of the suite idles.
        cmd = ["nice", "-n", "10", str(venv / "bin" / "sglang"), "serve", "--model-type", "diffusion",
               "--model-path", str(model),
               "--backend", "diffusers", "--host", "127.0.0.1", "--port", str(self.port), "--num-gpus", "1",
               "--warmup-mode", "off", "--output-path", str(self.output_dir),
               "--scheduler-port", str(free_port()), "--master-port", str(free_port())]
        with (self.root / "server.log").open("wb") as log:
            self.proc = subprocess.Popen(cmd, env=env, cwd=self.root, stdout=log, stderr=subprocess.STDOUT,
                                         start_new_session=True)  # its own group: stop() ends its workers too
        (self.root / _GROUP_FILE).write_text(str(self.proc.pid))
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"sglang serve exited with {self.proc.returncode}:\n{self.log_tail()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/health", timeout=2).status_code == 200:
                    return
            time.sleep(0.5)
        raise RuntimeError(f"sglang serve not ready after {START_TIMEOUT_S:.0f} s:\n{self.log_tail()}")

    def stop(self) -> None:
        """SIGTERM to the whole process group, SIGKILL after 20 s; the temp folder goes."""
        if self.proc is not None:
            _end_group(self.proc.pid, reap=self.proc.poll)
        shutil.rmtree(self.root, ignore_errors=True)


def _end_group(pgid: int, grace_s: float = 20.0, reap: Callable[[], object] = lambda: None) -> None:
    """End a process group; `reap` collects our own child, whose zombie would keep the group alive."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGTERM)
        os.killpg(pgid, signal.SIGCONT)  # a paused group acts on nothing until it runs again
        deadline = time.monotonic() + grace_s
        while time.monotonic() < deadline:
            reap()
            os.killpg(pgid, 0)  # raises ProcessLookupError once the group is gone
            time.sleep(0.2)
        os.killpg(pgid, signal.SIGKILL)
    reap()


def remove_orphans(parent: Path) -> None:
    """Stop servers whose test session died before its teardown (timeout, kill -9): only the folders this
    module made, whose owner is gone."""
    for root in parent.glob(_PREFIX + "*"):
        try:
            owner = int((root / _OWNER_FILE).read_text())
            group = int((root / _GROUP_FILE).read_text())
        except (OSError, ValueError):
            continue
        if not pid_alive(owner):
            _end_group(group, grace_s=5.0)
            shutil.rmtree(root, ignore_errors=True)


_STARTED: SGLangServer | None = None  # the server this process started (it reaps the leader when stopping it)


def _run_owner() -> int:
    """The process that owns this test run: xdist's controller (its workers' parent), else pytest itself."""
    return os.getppid() if os.environ.get("PYTEST_XDIST_WORKER") else os.getpid()


def run_sglang() -> SGLangServer:
    """This run's server: the first test process to ask starts it, the others (xdist workers) reuse it."""
    global _STARTED
    owner = _run_owner()
    parent = Path(tempfile.gettempdir())
    root = parent / f"{_PREFIX}{owner}"
    with _lock_of(root).open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        with contextlib.suppress(OSError, ValueError, KeyError):
            return SGLangServer(root, int(json.loads((root / _STATE_FILE).read_text())["port"]))
        venv, model = sglang_venv(), tiny_wan_folder(sglang_cache())
        remove_orphans(parent)
        shutil.rmtree(root, ignore_errors=True)
        root.mkdir()
        (root / _OWNER_FILE).write_text(str(owner))
        server = SGLangServer(root, _port_pair())
        try:
            server.start(venv, model)
        except BaseException:
            server.stop()
            raise
        (root / _STATE_FILE).write_text(json.dumps({"port": server.port}))
        _pause(root, 0)  # until a test uses it
        _STARTED = server
        return server


def _lock_of(root: Path) -> Path:
    return root.parent / f"{root.name}.lock"


def _pause(root: Path, users: int) -> None:
    """Record how many tests use the server now, and pause its group when none does (the caller holds the lock)."""
    (root / _USERS_FILE).write_text(str(users))
    with contextlib.suppress(OSError, ValueError, ProcessLookupError):
        os.killpg(int((root / _GROUP_FILE).read_text()), signal.SIGSTOP if users == 0 else signal.SIGCONT)


def _add_users(root: Path, change: int) -> None:
    """Count tests in or out, under the run's lock (xdist workers share the server)."""
    with _lock_of(root).open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        with contextlib.suppress(OSError, ValueError):
            _pause(root, max(0, int((root / _USERS_FILE).read_text() or "0") + change))


@contextlib.contextmanager
def in_use(server: SGLangServer) -> Iterator[SGLangServer]:
    """The server running for the length of a test: resumed for the first user, paused after the last."""
    _add_users(server.root, +1)
    try:
        yield server
    finally:
        _add_users(server.root, -1)


def stop_run_sglang() -> None:
    """Stop this run's server, from the process that owns the run (pytest_sessionfinish in tests/conftest.py);
    an xdist worker leaves it to the controller, as the other worker may still use it."""
    global _STARTED
    if os.environ.get("PYTEST_XDIST_WORKER"):
        return
    if _STARTED is not None:
        _STARTED.stop()
        _STARTED = None
    root = Path(tempfile.gettempdir()) / f"{_PREFIX}{os.getpid()}"
    with contextlib.suppress(OSError, ValueError):
        _end_group(int((root / _GROUP_FILE).read_text()))
    shutil.rmtree(root, ignore_errors=True)
    _lock_of(root).unlink(missing_ok=True)


@pytest.fixture(scope="session")
def sglang_session() -> SGLangServer:
    """The run's real SGLang diffusion server (started on first use, shared by xdist workers; see the module
    docstring), paused while no test uses it."""
    return run_sglang()


@pytest.fixture
def sglang_server(sglang_session: SGLangServer) -> Iterator[SGLangServer]:
    """The run's SGLang server, running for this test."""
    with in_use(sglang_session) as server:
        yield server
