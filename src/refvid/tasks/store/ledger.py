"""The credit ledger: one row per task holding the credits it reserved.

A row is written with the task (`reserve_credits`, inside `insert_task`'s transaction) and deleted when the
task fails or is cancelled (`release_credits`, inside the status change's transaction); a completed task
keeps its row even after the task is deleted, so a key's spending cannot be reset by deleting tasks.
A task that let the engine choose its length (`duration: -1`) reserved an upper bound; its completion
settles the row to what the output really cost (`settle_credits`), giving the rest back.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from refvid.contract import AUTO_DURATION
from refvid.tasks.store.base import Query, StoreCore
from refvid.tasks.store.ops import Steps, reading

#: statuses whose reserved credits go back to the key's budget
RELEASING_STATUSES = ("failed", "cancelled")
#: credits per second of output, by resolution (the README's "seconds × 1/2/4")
CREDITS_PER_S = {"480p": 1, "720p": 2, "1080p": 4}


def credits_for_seconds(seconds: float, resolution: str) -> int:
    """What `seconds` of output cost at `resolution` (whole seconds, as the wire reports durations)."""
    return round(seconds) * CREDITS_PER_S.get(resolution, 2)


def reserve_credits(task_id: str, owner: str, credits: int, created_at: float) -> Steps[None]:
    """Inside the inserting transaction: count the task's credits against its key."""
    yield ("INSERT INTO credit_ledger (task_id, owner, credits, created_at) VALUES (?, ?, ?, ?)",
           (task_id, owner, credits, created_at))


def release_credits(rows: Sequence[dict[str, Any]]) -> Steps[None]:
    """Inside a status change's transaction: give back the credits of the rows that failed or were cancelled."""
    released = [row["id"] for row in rows if row["status"] in RELEASING_STATUSES]
    if released:
        marks = ", ".join("?" for _ in released)
        yield f"DELETE FROM credit_ledger WHERE task_id IN ({marks})", released


def credits_used_steps(owner: str, since: float) -> Steps[int]:
    """Credits the key's tasks created since `since` hold (pending, running, completed or deleted)."""
    rows = yield "SELECT SUM(credits) AS n FROM credit_ledger WHERE owner = ? AND created_at >= ?", (owner, since)
    return int(rows[0]["n"] or 0)


def settle_credits(q: Query, rows: Sequence[dict[str, Any]]) -> None:
    """Inside a completion's transaction: a task whose duration the engine chose (`-1`) now holds what its
    output cost, in the ledger and on the task row (`rows` are updated in place, so the completion's
    webhook snapshot, written later in the same transaction, shows the settled amount)."""
    for row in rows:
        if row["status"] != "completed" or not row["result"]:
            continue
        spec, result = json.loads(row["spec"]), json.loads(row["result"])
        if spec.get("duration") != AUTO_DURATION or "duration" not in result:
            continue
        cost = credits_for_seconds(float(result["duration"]), spec["resolution"])
        if cost != int(row["credits"]):
            q("UPDATE tasks SET credits = ? WHERE id = ?", (cost, row["id"]))
            q("UPDATE credit_ledger SET credits = ? WHERE task_id = ?", (cost, row["id"]))
            row["credits"] = cost


class LedgerStore:
    """Reads of the ledger, each in its own transaction."""

    def __init__(self, core: StoreCore):
        self._core = core

    def credits_used(self, owner: str, since: float) -> int:
        return self._core.run(reading(credits_used_steps)(owner, since))
