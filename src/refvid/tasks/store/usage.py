"""What the per-key limits count: open tasks, credits spent (`ledger.credits_used_steps`), and idempotency keys
in force. Steps (`ops.py`), which the API takes into a create's own write transaction (`api/limits.py`): the
counts and the insert see the same state."""

from __future__ import annotations

from refvid.tasks.store.base import StoreCore
from refvid.tasks.store.ledger import credits_used_steps
from refvid.tasks.store.ops import Steps, reading, writing


def open_tasks_steps(owner: str) -> Steps[int]:
    rows = yield "SELECT COUNT(*) AS n FROM tasks WHERE owner = ? AND status IN ('pending', 'processing')", (owner,)
    return int(rows[0]["n"])


def release_idempotency_key_steps(owner: str, key: str, before: float) -> Steps[int]:
    """Detach `key` from the key's task created before `before` (its 24 h window is over)."""
    rows = yield ("""UPDATE tasks SET idempotency_key = NULL
                     WHERE owner = ? AND idempotency_key = ? AND created_at < ? RETURNING id""", (owner, key, before))
    return len(rows)


def idempotent_task_exists_steps(owner: str, key: str, since: float) -> Steps[bool]:
    rows = yield "SELECT 1 AS x FROM tasks WHERE owner = ? AND idempotency_key = ? AND created_at >= ?", \
        (owner, key, since)
    return bool(rows)


class UsageStore:
    """The same counts, each run alone on the calling thread."""

    def __init__(self, core: StoreCore):
        self._core = core

    def open_tasks(self, owner: str) -> int:
        return self._core.run(reading(open_tasks_steps)(owner))

    def credits_used(self, owner: str, since: float) -> int:
        return self._core.run(reading(credits_used_steps)(owner, since))

    def release_idempotency_key(self, owner: str, key: str, before: float) -> int:
        return self._core.run(writing(release_idempotency_key_steps)(owner, key, before))

    def idempotent_task_exists(self, owner: str, key: str, since: float) -> bool:
        return self._core.run(reading(idempotent_task_exists_steps)(owner, key, since))
