"""`SqlStore`: the task store the rest of the code holds, composed of the per-table concerns.

The tables that callers use through one object (tasks, claims, keys, workers, files) are mixed in, so a worker,
a route or the reaper calls `store.claim_next(…)` or `store.get_file(…)` directly. The concerns that have their
own readers take the store as a collaborator instead: `OutboxStore` (webhook delivery), `UsageStore` (per-key
limits), `LedgerStore` (credits) and `SecretStore` (webhook secrets). Every concern runs on `StoreCore` only.
"""

from __future__ import annotations

from refvid.tasks.store.claims import ClaimRows
from refvid.tasks.store.files import FileRows
from refvid.tasks.store.keys import KeyRows
from refvid.tasks.store.tasks import TaskRows
from refvid.tasks.store.workers import WorkerRows


class SqlStore(TaskRows, ClaimRows, KeyRows, WorkerRows, FileRows):
    """Every query of the store, in portable SQL. The dialects (`SqliteStore`, `PostgresStore`) provide
    `transaction` and the dialect hooks."""
