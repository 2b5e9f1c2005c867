"""PostgreSQL task store: psycopg 3 with a connection pool, for several API and worker nodes.

The queries are `SqlStore`'s (see `sql.py`); this module supplies the connections and the dialect:

- placeholders: the portable `?` becomes psycopg's `%s` (a literal `%` is escaped first);
- claims lock the chosen row with `FOR UPDATE SKIP LOCKED`, so concurrent workers never wait on each
  other and never claim the same task;
- `migrate` holds an advisory lock, so many processes may start (and migrate) at the same moment;
- a transaction that checks a key's limits first takes that key's advisory lock (`owner_lock_sql`), so
  concurrent creates of one key count exactly, across processes too;
- wake-ups use LISTEN/NOTIFY (`open_waker`, see `refvid.tasks.pg_wakeup`); the API's creates send theirs
  inside their own transaction (`notify_sql`);
- the API runs the same operations on psycopg's async pool, on its event loop (`pg_async.py`);
- an unreachable server is `StoreUnavailable` within `acquire_timeout_s` (not the pool's 30 s): a request
  answers 503 at once and a worker retries its write (docs/operations.md "Database outages").
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg import errors as pg_errors
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool, PoolTimeout

from refvid.errors import StoreUnavailable
from refvid.tasks.model import Task
from refvid.tasks.store.base import Query
from refvid.tasks.store.sql import SqlStore

if TYPE_CHECKING:
    from refvid.tasks.pg_wakeup import PgWaker

log = logging.getLogger(__name__)

#: the LISTEN/NOTIFY channel of queue changes (new, cancelled, requeued tasks)
CHANNEL = "refvid_tasks"
#: pg_advisory_lock key serialising migrations across processes ("refvid" in ASCII)
MIGRATION_LOCK_KEY = 0x726566766964
DEFAULT_POOL_SIZE = 10
#: how long a transaction waits for a pooled connection before the store counts as unavailable
DEFAULT_ACQUIRE_TIMEOUT_S = 1.5
#: how long the pool keeps retrying one lost connection before leaving it to the next request
RECONNECT_TIMEOUT_S = 3.0
#: libpq's connect_timeout (whole seconds, 2 at least): a server that does not answer SYN is given up quickly
CONNECT_TIMEOUT_S = 2
#: SQLSTATE classes that mean "the server is not there" rather than "this statement is wrong": connection
#: exceptions, operator intervention (shutdown, starting up), too many connections
UNREACHABLE_SQLSTATES = ("08", "57P", "53300")
#: every pooled connection, sync or async: autocommit (reads are single statements), rows as dicts
CONNECTION_KWARGS: dict[str, Any] = {"autocommit": True, "row_factory": dict_row,
                                     "connect_timeout": CONNECT_TIMEOUT_S}


def is_unreachable(exc: BaseException) -> bool:
    """A pool timeout, or an OperationalError without a server answer (lost connection) or with a connection
    SQLSTATE. A deadlock or a serialization failure is also an OperationalError, but the server answered it."""
    if isinstance(exc, PoolTimeout):
        return True
    if not isinstance(exc, psycopg.OperationalError):
        return False
    return exc.sqlstate is None or exc.sqlstate.startswith(UNREACHABLE_SQLSTATES)


def unavailable(exc: BaseException) -> StoreUnavailable:
    return StoreUnavailable(f"the database is unreachable: {type(exc).__name__}: {exc}")


@functools.lru_cache(maxsize=256)
def to_pyformat(sql: str) -> str:
    """Portable `?` placeholders → psycopg `%s` (none of our queries has `?` inside a string literal)."""
    return sql.replace("%", "%%").replace("?", "%s")


def conninfo_of(database_url: str) -> str:
    """`postgres://` is an alias libpq accepts too; keep the URL as the conninfo string."""
    if not database_url.startswith(("postgresql://", "postgres://")):
        raise ValueError(f"bad PostgreSQL URL {database_url!r}: expected postgresql://user@host:port/db")
    return database_url


class PostgresStore(SqlStore):
    """Safe for many threads, processes and machines. Each `transaction` borrows a pooled connection; isolation
    is READ COMMITTED, which the SKIP LOCKED claim relies on."""

    claim_lock_clause = " FOR UPDATE SKIP LOCKED"
    greatest = "GREATEST"
    owner_lock_sql = "SELECT pg_advisory_xact_lock(hashtext(?)) AS locked"
    notify_sql = f"NOTIFY {CHANNEL}"

    def __init__(self, database_url: str, pool_size: int = DEFAULT_POOL_SIZE,
                 connect_timeout_s: float = 30.0, acquire_timeout_s: float = DEFAULT_ACQUIRE_TIMEOUT_S):
        self.conninfo = conninfo_of(database_url)
        self.acquire_timeout_s = acquire_timeout_s
        self.pool_size = max(1, pool_size)
        self._pool: ConnectionPool[psycopg.Connection[dict[str, Any]]] = ConnectionPool(
            self.conninfo,
            min_size=1,
            max_size=max(1, pool_size),
            kwargs=CONNECTION_KWARGS,
            connection_class=psycopg.Connection[dict[str, Any]],
            timeout=connect_timeout_s,
            # A database restart must not cost one failed request per pooled connection.
            check=ConnectionPool.check_connection,
            name="refvid-store",
            # The pool's own reconnection backs off exponentially without bound (1, 2, 4 … 64 s): after a
            # long outage it would keep answering 503 for a minute after the database is back. Giving up
            # after a few seconds instead lets the next request start a fresh, immediate attempt.
            reconnect_timeout=RECONNECT_TIMEOUT_S,
            open=False,
        )
        self._pool.open(wait=False)
        self._wait_ready(connect_timeout_s)

    def _wait_ready(self, timeout_s: float) -> None:
        """At start, wait up to `timeout_s` for the database (it may be starting beside us)."""
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                with self._pool.connection(timeout=max(0.1, min(2.0, deadline - time.monotonic()))):
                    return
            except (PoolTimeout, psycopg.OperationalError):
                if time.monotonic() >= deadline:
                    self._pool.close()
                    raise

    @contextmanager
    def transaction(self, write: bool) -> Iterator[Query]:
        """Writes run in one transaction. Reads run as autocommit statements: under READ COMMITTED every
        statement takes its own snapshot anyway, so BEGIN/COMMIT would add two round trips and no
        consistency (a poll of `cancel_requested` or `GET /v1/tasks/{id}` costs one round trip).
        A lost or unreachable server raises `StoreUnavailable` (the transaction did not commit, or, for a
        connection lost during COMMIT, may have: every write of ours is safe to repeat)."""
        try:
            with self._pool.connection(timeout=self.acquire_timeout_s) as conn, \
                    (conn.transaction() if write else nullcontext()), conn.cursor() as cur:

                def query(sql: str, params: Sequence[Any]) -> list[dict[str, Any]]:
                    cur.execute(to_pyformat(sql), tuple(params))
                    return cur.fetchall() if cur.description is not None else []

                yield query
        except (psycopg.OperationalError, PoolTimeout) as exc:
            if not is_unreachable(exc):
                raise
            raise unavailable(exc) from exc

    def close(self) -> None:
        self._pool.close()

    # -- dialect-specific behaviour -----------------------------------------------------------------
    def migrate(self) -> int:
        """Apply pending migrations under a cluster-wide advisory lock (many nodes may start at once)."""
        with psycopg.connect(self.conninfo, autocommit=True) as lock_conn:
            lock_conn.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK_KEY,))
            try:
                return super().migrate()
            finally:
                lock_conn.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK_KEY,))

    def reap_expired(self, max_attempts: int) -> list[Task]:
        """Every node runs a reaper; two reaping the same rows may deadlock, and then one simply yields
        (the other did the work, and the next pass retries anything left)."""
        try:
            return super().reap_expired(max_attempts)
        except pg_errors.DeadlockDetected:
            log.info("reaper: another node is reaping the same leases; skipping this pass")
            return []

    def expire_pending(self, deadline_s: float) -> list[Task]:
        try:
            return super().expire_pending(deadline_s)
        except pg_errors.DeadlockDetected:
            log.info("expiry: another node is expiring the same tasks; skipping this pass")
            return []

    def expire_overdue(self) -> list[Task]:
        try:
            return super().expire_overdue()
        except pg_errors.DeadlockDetected:
            log.info("expiry: another node is expiring the same tasks; skipping this pass")
            return []

    # -- wake-ups -----------------------------------------------------------------------------------
    def notify_waiters(self) -> None:
        """`NOTIFY` every listening process (delivered when this autocommit statement commits)."""
        try:
            with self._pool.connection(timeout=self.acquire_timeout_s) as conn:
                conn.execute(f"NOTIFY {CHANNEL}")
        except (psycopg.OperationalError, PoolTimeout) as exc:
            raise StoreUnavailable(f"the database is unreachable: {exc}") from exc

    def open_waker(self) -> PgWaker:
        """A LISTEN/NOTIFY waker on its own connection; `Runtime` prefers it to the local waker."""
        from refvid.tasks.pg_wakeup import PgWaker  # its LISTEN thread; only needed where a waker runs

        return PgWaker(self.conninfo, CHANNEL, self.notify_waiters)
