"""The task store: the tasks table is the queue (design.md "Tasks are the queue"), and all SQL lives here.

- `base.StoreCore`: transactions (`transaction(write)`), dialect hooks, migrations.
- `SqlStore` (`sql.py`) = task rows (`tasks.py`), claims (`claims.py`), keys (`keys.py`), workers
  (`workers.py`), uploaded files (`files.py`).
- Collaborators over a store: `OutboxStore` (`outbox.py`), `LedgerStore` (`ledger.py`), `UsageStore`
  (`usage.py`), `SecretStore` (`secrets.py`). Outbox events and ledger changes are written inside the task
  transactions (`rows.record_status_changes`).
- Dialects: `sqlite.SqliteStore`, `postgres.PostgresStore`; `open_store(url)` picks one from the database URL.
"""

from __future__ import annotations

from refvid.tasks.store.base import Query, StoreCore
from refvid.tasks.store.ledger import LedgerStore
from refvid.tasks.store.outbox import OutboxStore
from refvid.tasks.store.rows import task_from_row
from refvid.tasks.store.secrets import SecretStore
from refvid.tasks.store.sql import SqlStore
from refvid.tasks.store.usage import UsageStore

__all__ = ["LedgerStore", "OutboxStore", "Query", "SecretStore", "SqlStore", "StoreCore", "UsageStore",
           "open_store", "task_from_row"]


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
