"""Task rows ↔ `Task`, and what every status change writes in its own transaction.

`record_status_changes` is the one place where a task's status change meets the outbox and the ledger: the
claim, finish, cancel, requeue and reaper queries call it inside the transaction that changed the rows, so a
webhook event exists if and only if the change committed, and credits are released exactly when a task fails
or is cancelled.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from typing import Any

from refvid.tasks.model import Task, TaskSpec, TaskStatus
from refvid.tasks.store.ledger import release_credits
from refvid.tasks.store.ops import Steps
from refvid.tasks.store.outbox import queue_events

TERMINAL = tuple(s.value for s in TaskStatus if s.is_terminal())


def task_from_row(row: dict[str, Any]) -> Task:
    """A `tasks` row (also a `RETURNING *` row, or the outbox's JSON snapshot of one) → `Task`."""
    return Task(
        id=row["id"],
        owner=row["owner"],
        spec=spec_from_json(row["spec"]),
        engine=row["engine"],
        status=TaskStatus(row["status"]),
        progress=int(row["progress"]),
        created_at=float(row["created_at"]),
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        attempts=int(row["attempts"]),
        cancel_requested=bool(row["cancel_requested"]),
        cancellable=bool(row["cancellable"]),
        worker_id=row["worker_id"],
        lease_token=row["lease_token"],
        lease_expires_at=row["lease_expires_at"],
        result=json.loads(row["result"]) if row["result"] else None,
        error=json.loads(row["error"]) if row["error"] else None,
        engine_state=json.loads(row["engine_state"] or "{}"),
        idempotency_key=row["idempotency_key"],
        request_hash=row["request_hash"],
        credits=int(row["credits"]),
    )


@functools.lru_cache(maxsize=4096)
def spec_from_json(text: str) -> TaskSpec:
    """A task's spec is written once and never changed, while every poll of the task reads it: each text is
    decoded once (while it stays among the 4,096 most recently read). `TaskSpec` is frozen, so sharing is safe."""
    return TaskSpec.from_dict(json.loads(text))


def record_status_changes(rows: Sequence[dict[str, Any]], now: float) -> Steps[None]:
    """For tasks rows that just changed status (`RETURNING *`), inside that same transaction: release the
    credits of failed and cancelled tasks and queue one webhook event per row with a callback URL."""
    yield from release_credits(rows)
    yield from queue_events(rows, now)
