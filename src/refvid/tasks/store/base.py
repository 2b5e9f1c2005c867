"""The store core: a transaction API and the dialect hooks every concern's queries run on.

Each concern of the store (task rows, claims, keys, workers, files, the outbox, the credit ledger, per-key
usage, webhook secrets) is written against this class only: it opens transactions through the public
`transaction()` and reads the two dialect hooks, and never touches another concern's attributes. The dialects
(`sqlite.SqliteStore`, `postgres.PostgresStore`) supply the connections.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import Any

from refvid.tasks.migrations import MIGRATIONS
from refvid.tasks.store.ops import Op, Steps, T, reading, run_steps

Query = Callable[[str, Sequence[Any]], list[dict[str, Any]]]
"""One statement inside an open transaction: portable SQL with `?` placeholders → rows as dicts."""


def dumps(value: Any) -> str | None:
    """JSON columns are stored compact and key-sorted (stable text for equal values); None stays NULL."""
    return None if value is None else json.dumps(value, separators=(",", ":"), sort_keys=True)


@reading
def ping() -> Steps[bool]:
    """Whether the database answers (`/healthz`)."""
    rows = yield "SELECT 1 AS ok", ()
    return bool(rows)


class StoreCore(ABC):
    """Connections, transactions, the dialect hooks and the schema; the concerns add the queries."""

    #: appended to a claim's inner SELECT (PostgreSQL: FOR UPDATE SKIP LOCKED)
    claim_lock_clause = ""
    #: the two-argument maximum function
    greatest = "MAX"
    #: True when a read is answered from a local file without waiting on a network or a lock (SQLite in WAL
    #: mode), so the API may run it on its event loop (`ops.AsyncRunner`)
    answers_locally = False
    #: a statement that serialises the writes of one owner's transactions (its argument: the owner), so the
    #: per-key limits count exactly; None where write transactions are serial anyway (SQLite)
    owner_lock_sql: str | None = None
    #: a statement that tells every listening process, when the transaction commits, that the queue changed
    #: (PostgreSQL NOTIFY); None where the waker does it (SQLite: datagrams)
    notify_sql: str | None = None

    @abstractmethod
    def transaction(self, write: bool) -> AbstractContextManager[Query]:
        """A transaction yielding a `Query`; commits on exit, rolls back on an exception. `write=True` takes
        the write lock up front (SQLite BEGIN IMMEDIATE), so a read-then-write cannot deadlock on upgrade."""

    def run(self, op: Op[T]) -> T:
        """Run an operation (`ops.py`) on this thread: its statements in one transaction if it writes."""
        with self.transaction(write=op.write) as q:
            result = run_steps(q, op.steps())
            if op.notify and self.notify_sql is not None:
                q(self.notify_sql, ())
            return result

    def close(self) -> None:
        """Release connections."""

    def migrate(self) -> int:
        """Apply pending migrations; return the schema version."""
        with self.transaction(write=True) as q:
            q("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)", ())
            rows = q("SELECT MAX(version) AS v FROM schema_version", ())
            current = rows[0]["v"] or 0
            for version, statements in MIGRATIONS:
                if version > current:
                    for sql in statements:
                        q(sql, ())
                    q("INSERT INTO schema_version (version) VALUES (?)", (version,))
                    current = version
        return int(current)
