"""SQLite task store: one connection per live thread, closed when its thread ends; WAL, writes under
BEGIN IMMEDIATE."""

from __future__ import annotations

import sqlite3
import threading
import time
import weakref
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from refvid.tasks.store.base import Query
from refvid.tasks.store.sql import SqlStore


def sqlite_path(database_url: str) -> Path:
    """`sqlite:///relative.db` / `sqlite:////abs/path.db` → Path."""
    if not database_url.startswith("sqlite:///"):
        raise ValueError(f"bad SQLite URL {database_url!r}: expected sqlite:///path/to/file.db")
    return Path(database_url[len("sqlite:///"):])


class _ThreadConnection:
    """The connection of one thread, held only by that thread's `threading.local` slot. Python drops a
    thread's slots when the thread ends, and this holder closes the connection then: threads come and go
    (a lease thread per task, thread-pool threads that idle out), and a connection kept past its thread is
    three open descriptors (the database, its -wal and -shm) for the life of the process."""

    __slots__ = ("__weakref__", "conn")

    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn

    def close(self) -> None:
        with suppress(sqlite3.ProgrammingError):
            self.conn.close()

    def __del__(self) -> None:
        self.close()


def query_on(conn: sqlite3.Connection) -> Query:
    def query(sql: str, params: Sequence[Any]) -> list[dict[str, Any]]:
        return [dict(row) for row in conn.execute(sql, tuple(params)).fetchall()]

    return query


class SqliteStore(SqlStore):
    """Safe for many threads and processes on one machine. `synchronous=NORMAL` in WAL mode survives a
    process crash (kill -9) without losing committed transactions; only power loss can drop the last ones.

    Writers of one process queue on a lock before `BEGIN IMMEDIATE`: SQLite's own busy handler makes a
    waiting writer sleep in growing steps (up to 100 ms), so under concurrent creates most of a request's time
    was spent asleep while the file was free. Across processes the busy timeout still applies."""

    answers_locally = True

    def __init__(self, database_url: str, busy_timeout_s: float = 30.0):
        self.path = sqlite_path(database_url)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._busy_timeout_s = busy_timeout_s
        self._local = threading.local()
        #: the connections of live threads (a thread's ends with it), for `close()`
        self._open: weakref.WeakSet[_ThreadConnection] = weakref.WeakSet()
        self._kept: list[_ThreadConnection] = []  # `connect`'s, held until `close()`
        self._lock = threading.Lock()
        self.write_lock = threading.RLock()

    def _conn(self) -> sqlite3.Connection:
        held: _ThreadConnection | None = getattr(self._local, "held", None)
        if held is None:
            held = self._held(self._busy_timeout_s)  # closed once dropped: with this thread
            self._local.held = held
        return held.conn

    def connect(self, busy_timeout_s: float | None = None) -> sqlite3.Connection:
        """A configured connection kept until the store closes, for a long-lived user of its own (the API's
        writer: one on the loop, one on its writer thread, made once per runner, so the count stays bounded);
        `busy_timeout_s` 0: a write that finds the lock taken fails at once instead of waiting (the writer tries
        that on its event loop first)."""
        held = self._held(self._busy_timeout_s if busy_timeout_s is None else busy_timeout_s)
        with self._lock:
            self._kept.append(held)
        return held.conn

    def _held(self, timeout_s: float) -> _ThreadConnection:
        conn = sqlite3.connect(self.path, timeout=timeout_s, isolation_level=None, check_same_thread=False)
        held = _ThreadConnection(conn)  # closed once dropped, at once if the setup below raises
        conn.row_factory = sqlite3.Row
        self._enable_wal(conn)
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA foreign_keys=ON")
        with self._lock:
            self._open.add(held)
        return held

    def open_connections(self) -> int:
        """Connections open now: one per live thread that used the store, plus those kept by `connect`."""
        with self._lock:
            return len(self._open)

    def _enable_wal(self, conn: sqlite3.Connection) -> None:
        # Switching the journal mode needs a moment alone with the file and does not wait on the busy
        # timeout: when many processes open a new database at once, retry until it takes.
        deadline = time.monotonic() + self._busy_timeout_s
        while True:
            try:
                conn.execute("PRAGMA journal_mode=WAL")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    @contextmanager
    def transaction(self, write: bool) -> Iterator[Query]:
        """Writes run in one `BEGIN IMMEDIATE` transaction. Reads run as autocommit statements, each with its
        own snapshot, exactly as on PostgreSQL (READ COMMITTED): no caller may count on more, since the code
        runs on both."""
        conn = self._conn()
        query = query_on(conn)
        if not write:  # autocommit statements, as on PostgreSQL (a task poll is one statement)
            yield query
            return
        with self.atomic(conn):
            yield query

    @contextmanager
    def atomic(self, conn: sqlite3.Connection) -> Iterator[None]:
        """Under the write lock: a `BEGIN IMMEDIATE` transaction; or, inside one already open on this connection
        (a batch of the API's writer, `sqlite_writer.py`), a savepoint, undone alone on an exception."""
        with self.write_lock:
            nested = conn.in_transaction
            conn.execute("SAVEPOINT refvid_write" if nested else "BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                conn.execute("ROLLBACK TO refvid_write" if nested else "ROLLBACK")
                if nested:
                    conn.execute("RELEASE refvid_write")
                raise
            conn.execute("RELEASE refvid_write" if nested else "COMMIT")

    def close(self) -> None:
        with self._lock:
            for held in list(self._open):
                held.close()
            self._open.clear()
            self._kept.clear()
        self._local = threading.local()
