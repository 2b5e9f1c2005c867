"""What the per-key limits count: open tasks, credits spent, and idempotency keys in force."""

from __future__ import annotations

from refvid.tasks.store.base import StoreCore
from refvid.tasks.store.ledger import LedgerStore


class UsageStore:
    """The queries behind `api/limits.py` and the Idempotency-Key window, each in its own transaction."""

    def __init__(self, core: StoreCore):
        self._core = core
        self._ledger = LedgerStore(core)

    def open_tasks(self, owner: str) -> int:
        with self._core.transaction(write=False) as q:
            rows = q("""SELECT COUNT(*) AS n FROM tasks WHERE owner = ? AND status IN ('pending', 'processing')""",
                     (owner,))
        return int(rows[0]["n"])

    def credits_used(self, owner: str, since: float) -> int:
        return self._ledger.credits_used(owner, since)

    def release_idempotency_key(self, owner: str, key: str, before: float) -> int:
        """Detach `key` from the key's task created before `before` (its 24 h window is over)."""
        stale = "SELECT 1 AS x FROM tasks WHERE owner = ? AND idempotency_key = ? AND created_at < ?"
        with self._core.transaction(write=False) as q:
            if not q(stale, (owner, key, before)):
                return 0  # the common case, without taking the write lock
        with self._core.transaction(write=True) as q:
            rows = q("""UPDATE tasks SET idempotency_key = NULL
                        WHERE owner = ? AND idempotency_key = ? AND created_at < ? RETURNING id""",
                     (owner, key, before))
        return len(rows)

    def idempotent_task_exists(self, owner: str, key: str, since: float) -> bool:
        with self._core.transaction(write=False) as q:
            return bool(q("""SELECT 1 AS x FROM tasks WHERE owner = ? AND idempotency_key = ? AND created_at >= ?""",
                          (owner, key, since)))
