"""The task store: the tasks table is the queue (design.md "Tasks are the queue"), and all SQL lives here.

- `base.StoreCore`: transactions (`transaction(write)`), dialect hooks, migrations.
- `SqlStore` (`sql.py`) = task rows (`tasks.py`), claims (`claims.py`), keys (`keys.py`), workers
  (`workers.py`), uploaded files (`files.py`).
- Collaborators over a store: `OutboxStore` (`outbox.py`), `LedgerStore` (`ledger.py`), `SecretStore`
  (`secrets.py`), `UsageStore` (`usage.py`: the per-key limits' counts). Outbox events and ledger changes are
  written inside the task transactions (`rows.record_status_changes`).
- Operations as data (`ops.py`): each statement written once, run on a thread (`StoreCore.run`) or on an event
  loop (`open_async_runner(store)`: `pg_async.py`, `sqlite_writer.py`).
- Dialects: `sqlite.SqliteStore`, `postgres.PostgresStore`; `open_store(url)` picks one from the database URL.
"""

from __future__ import annotations

from refvid.tasks.store.base import Query, StoreCore
from refvid.tasks.store.ledger import LedgerStore
from refvid.tasks.store.ops import AsyncRunner
from refvid.tasks.store.outbox import OutboxStore
from refvid.tasks.store.rows import task_from_row
from refvid.tasks.store.secrets import SecretStore
from refvid.tasks.store.sql import SqlStore
from refvid.tasks.store.usage import UsageStore

__all__ = ["LedgerStore", "OutboxStore", "Query", "SecretStore", "SqlStore", "StoreCore",
           "UsageStore", "open_async_runner", "open_store", "task_from_row"]


def open_store(database_url: str, pool_size: int = 10) -> SqlStore:
    """`sqlite:///path.db` or `postgresql://…` → a migrated store (`pool_size`: PostgreSQL connections)."""
    if database_url.startswith("sqlite:"):
        from refvid.tasks.store.sqlite import SqliteStore

        store: SqlStore = SqliteStore(database_url)
    elif database_url.startswith(("postgresql:", "postgres:")):
        from refvid.tasks.store.postgres import PostgresStore

        store = PostgresStore(database_url, pool_size=pool_size)
    else:
        raise ValueError(f"unsupported database URL {database_url!r}: use sqlite:///… or postgresql://…")
    store.migrate()
    return store


def open_async_runner(store: SqlStore) -> AsyncRunner:
    """The runner of `store`'s operations for code on an event loop; it opens what it needs on first use, on
    the loop that uses it."""
    if store.answers_locally:
        from refvid.tasks.store.sqlite import SqliteStore
        from refvid.tasks.store.sqlite_writer import SqliteRunner

        assert isinstance(store, SqliteStore)
        return SqliteRunner(store)
    from refvid.tasks.store.pg_async import PgAsyncRunner
    from refvid.tasks.store.postgres import PostgresStore

    assert isinstance(store, PostgresStore)
    return PgAsyncRunner(store)
