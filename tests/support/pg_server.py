"""A throwaway PostgreSQL server for the test session, built from the machine's `initdb` / `pg_ctl`.

The server lives in a fresh temp dir, listens on 127.0.0.1 at a random free port (and on a Unix socket in
the temp dir), trusts local connections, and is stopped and deleted when the session ends. Durability is
switched off (fsync, synchronous_commit): the data is thrown away anyway.

PostgreSQL refuses to run as root. When the tests run as root (CI containers), the data dir is handed to
an unprivileged account (`postgres` if the machine has one, else `nobody`) and the server processes run
as that account through `subprocess`'s `user=`/`group=` (no `su`/`runuser` needed).

The session-scoped `pg_server` fixture is imported into tests/conftest.py, so every test module can ask
for it; `pg_database` (a fresh, empty database per test) can be imported into a conftest the same way.
Tests are skipped when the PostgreSQL binaries or psycopg are missing.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

SUPERUSER = "refvid"
_RUN_AS_CANDIDATES = ("postgres", "nobody")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _unprivileged_account() -> pwd.struct_passwd | None:
    """Who runs the server: None (ourselves) unless we are root."""
    if os.geteuid() != 0:
        return None
    for name in _RUN_AS_CANDIDATES:
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name)
    raise RuntimeError("running as root and no unprivileged account (postgres, nobody) to run PostgreSQL as")


@dataclass
class PgServer:
    """One running PostgreSQL cluster. `url(db)` gives a psycopg/refvid database URL."""

    root: Path
    port: int
    account: pwd.struct_passwd | None
    databases: list[str] = field(default_factory=list)

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def socket_dir(self) -> Path:
        return self.root / "sock"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def _run(self, *args: str, timeout_s: float = 60.0) -> subprocess.CompletedProcess[str]:
        kwargs: dict[str, Any] = {}
        if self.account is not None:
            kwargs = {"user": self.account.pw_uid, "group": self.account.pw_gid, "extra_groups": []}
        env = {**os.environ, "LC_ALL": "C", "LANG": "C", "HOME": str(self.root)}
        return subprocess.run(list(args), check=True, capture_output=True, text=True, timeout=timeout_s,
                              cwd=self.root, env=env, **kwargs)

    def start(self) -> None:
        """initdb + pg_ctl start; retries on another port if the chosen one was taken meanwhile."""
        self.socket_dir.mkdir()
        if self.account is not None:
            for path in (self.root, self.socket_dir):
                os.chown(path, self.account.pw_uid, self.account.pw_gid)
        self._run("initdb", "-D", str(self.data_dir), "-U", SUPERUSER, "--auth=trust", "-E", "UTF8",
                  "--no-sync", "--no-instructions")
        for _ in range(5):
            try:
                self.resume()
                return
            except subprocess.CalledProcessError:
                self.port = free_port()
        log = (self.root / "server.log").read_text(errors="replace")[-2000:]
        raise RuntimeError(f"PostgreSQL did not start:\n{log}")

    def resume(self) -> None:
        """Start the server on its data folder and port (first start, or after `halt`)."""
        options = (f"-p {self.port} -k {self.socket_dir} -c listen_addresses=127.0.0.1 -c fsync=off "
                   "-c synchronous_commit=off -c full_page_writes=off -c max_connections=300")
        self._run("pg_ctl", "start", "-w", "-t", "60", "-D", str(self.data_dir),
                  "-l", str(self.root / "server.log"), "-o", options)

    def halt(self) -> None:
        """Stop the server as an operator would (fast shutdown: sessions are cut), keeping its data."""
        self._run("pg_ctl", "stop", "-D", str(self.data_dir), "-m", "fast", "-w", timeout_s=30)

    def stop(self) -> None:
        if self.data_dir.is_dir():
            with contextlib.suppress(subprocess.SubprocessError, OSError):
                self._run("pg_ctl", "stop", "-D", str(self.data_dir), "-m", "immediate", "-w", timeout_s=30)
        shutil.rmtree(self.root, ignore_errors=True)

    def create_database(self, name: str | None = None) -> str:
        """A new, empty database; returns its URL."""
        import psycopg

        name = name or f"t_{secrets.token_hex(6)}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        self.databases.append(name)
        return self.url(name)


_SERVER: PgServer | None = None
_OWNER_FILE = "owner.pid"


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_orphans(parent: Path) -> None:
    """Stop servers left behind by test sessions that were killed before their teardown ran (a timeout,
    kill -9). Only folders this module made (they carry `owner.pid`) whose owner is gone."""
    for root in parent.glob("refvid-pg-*"):
        try:
            owner = int((root / _OWNER_FILE).read_text())
        except (OSError, ValueError):
            continue
        if not pid_alive(owner):
            PgServer(root, 0, _unprivileged_account()).stop()


def _require_postgres() -> None:
    """Skip the test when the machine has no PostgreSQL binaries or no psycopg."""
    for binary in ("initdb", "pg_ctl", "postgres"):
        if shutil.which(binary) is None:
            pytest.skip(f"PostgreSQL binary {binary!r} not on PATH")
    pytest.importorskip("psycopg")


def start_server() -> PgServer:
    """The process-wide server, started on first use."""
    global _SERVER
    if _SERVER is None:
        _require_postgres()
        # Short path under /tmp: Unix socket paths are limited to ~107 bytes, and an unprivileged server
        # user must be able to reach the folder (a root-only $TMPDIR would not do).
        parent = Path("/tmp" if os.path.isdir("/tmp") else tempfile.gettempdir())
        remove_orphans(parent)
        root = Path(tempfile.mkdtemp(prefix="refvid-pg-", dir=parent))
        (root / _OWNER_FILE).write_text(str(os.getpid()))
        server = PgServer(root, free_port(), _unprivileged_account())
        try:
            server.start()
        except BaseException:
            server.stop()
            raise
        _SERVER = server
    return _SERVER


@contextlib.contextmanager
def private_server() -> Iterator[PgServer]:
    """A server of its own, for a test that stops and starts it (the session's one is shared)."""
    _require_postgres()
    parent = Path("/tmp" if os.path.isdir("/tmp") else tempfile.gettempdir())
    root = Path(tempfile.mkdtemp(prefix="refvid-pg-", dir=parent))
    (root / _OWNER_FILE).write_text(str(os.getpid()))
    server = PgServer(root, free_port(), _unprivileged_account())
    try:
        server.start()
        yield server
    finally:
        server.stop()


def stop_server() -> None:
    global _SERVER
    if _SERVER is not None:
        _SERVER.stop()
        _SERVER = None


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    """A PostgreSQL server for the whole session, torn down after."""
    yield start_server()
    stop_server()


@pytest.fixture
def pg_database(pg_server: PgServer) -> str:
    """A fresh, empty database on the session's server; returns its URL."""
    return pg_server.create_database()
