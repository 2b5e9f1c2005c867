"""Task rows, worker side: claim, heartbeat, engine state, outcome, hand-back.

Claims are fair across owners (`FAIR_ORDER`) and single: the UPDATE re-checks `status = 'pending'`, and
PostgreSQL locks the chosen row with SKIP LOCKED, so a task goes to exactly one worker.

Every write after the claim names the claim's lease token and requires `status = 'processing'`, so a worker
that lost its lease (the reaper gave the task to another) can never overwrite what the new owner records.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Sequence
from typing import Any

from refvid.tasks.model import Claim, Heartbeat, TaskStatus
from refvid.tasks.store.base import StoreCore, dumps
from refvid.tasks.store.ledger import settle_credits
from refvid.tasks.store.ops import run_steps
from refvid.tasks.store.rows import record_status_changes, task_from_row

#: Which pending task a worker takes (docs/operations.md "Fair claiming"): first the owners with the fewest
#: tasks running, then the owner served longest ago (round-robin: an owner never served comes first), then,
#: among that owner's tasks, the default tier before flex, the higher priority first, and the oldest first
#: (docs/api.md "Queue order and deadlines"). One key's batch of 60 cannot starve another key's single task,
#: and a key that sets neither tier nor priority is served FIFO. Correlated subqueries over the (owner,
#: status) and (owner, started_at) indexes, so it stays portable SQL for SQLite and PostgreSQL.
FAIR_ORDER = """(SELECT COUNT(*) FROM tasks r WHERE r.owner = t.owner AND r.status = 'processing'),
                COALESCE((SELECT MAX(s.started_at) FROM tasks s WHERE s.owner = t.owner), 0),
                CASE WHEN t.service_tier = 'flex' THEN 1 ELSE 0 END, t.priority DESC, t.created_at, t.id"""


class ClaimRows(StoreCore):
    """The `tasks` table as seen by the worker holding a lease."""

    def claim_next(self, worker_id: str, engines: Sequence[str], lease_s: float) -> Claim | None:
        if not engines:
            return None
        now = time.time()
        token = secrets.token_hex(16)
        marks = ", ".join("?" for _ in engines)
        sql = f"""UPDATE tasks SET status = 'processing', worker_id = ?, lease_token = ?, lease_expires_at = ?,
                    attempts = attempts + 1, cancellable = 1,
                    started_at = COALESCE(started_at, ?), updated_at = ?
                  WHERE id = (SELECT t.id FROM tasks t WHERE t.status = 'pending' AND t.engine IN ({marks})
                              ORDER BY {FAIR_ORDER} LIMIT 1{self.claim_lock_clause})
                    AND status = 'pending'
                  RETURNING *"""
        with self.transaction(write=True) as q:
            rows = q(sql, (worker_id, token, now + lease_s, now, now, *engines))
            run_steps(q, record_status_changes(rows, now))
        return Claim(task_from_row(rows[0]), token) if rows else None

    def heartbeat(self, task_id: str, token: str, progress: int, lease_s: float,
                  cancellable: bool = True) -> Heartbeat:
        """Renew the lease, store monotonic progress, read back whether a cancel was requested."""
        now = time.time()
        with self.transaction(write=True) as q:
            rows = q(
                f"""UPDATE tasks SET lease_expires_at = ?, progress = {self.greatest}(progress, ?),
                       cancellable = ?, updated_at = ?
                    WHERE id = ? AND lease_token = ? AND status = 'processing' RETURNING cancel_requested""",
                (now + lease_s, min(99, max(0, int(progress))), int(cancellable), now, task_id, token),
            )
        if not rows:
            return Heartbeat(ok=False, cancel_requested=False)
        return Heartbeat(ok=True, cancel_requested=bool(rows[0]["cancel_requested"]))

    def cancel_requested(self, task_id: str) -> bool:
        with self.transaction(write=False) as q:
            rows = q("SELECT cancel_requested, status FROM tasks WHERE id = ?", (task_id,))
        return bool(rows and (rows[0]["cancel_requested"] or rows[0]["status"] == "cancelled"))

    def save_engine_state(self, task_id: str, token: str, state: dict[str, Any]) -> bool:
        with self.transaction(write=True) as q:
            # An engine saying "no longer cancellable" (relay: the provider started) is visible at once.
            cancellable = int(bool(state.get("cancellable", True)))
            rows = q("""UPDATE tasks SET engine_state = ?, updated_at = ?,
                          cancellable = CASE WHEN ? = 0 THEN 0 ELSE cancellable END
                        WHERE id = ? AND lease_token = ? AND status = 'processing' RETURNING id""",
                     (dumps(state), time.time(), cancellable, task_id, token))
        return bool(rows)

    def finish(self, task_id: str, token: str, status: TaskStatus, *, result: dict[str, Any] | None = None,
               error: dict[str, Any] | None = None, run_s_per_output_s: float | None = None) -> bool:
        """Record the one outcome of a task. False if it was not recorded: this worker's lease is gone
        (someone else owns it), or a cancel requested meanwhile turned a completion into `cancelled`."""
        assert status.is_terminal()
        now = time.time()
        with self.transaction(write=True) as q:
            rows = q(
                """UPDATE tasks SET status = ?, result = ?, error = ?, finished_at = ?, updated_at = ?,
                       progress = CASE WHEN ? = 'completed' THEN 100 ELSE progress END,
                       lease_token = NULL, lease_expires_at = NULL, cancellable = 0, run_s_per_output_s = ?
                   WHERE id = ? AND lease_token = ? AND status = 'processing'
                     AND (? <> 'completed' OR cancel_requested = 0) RETURNING *""",
                (status.value, dumps(result), dumps(error), now, now, status.value, run_s_per_output_s,
                 task_id, token, status.value),
            )
            settle_credits(q, rows)  # duration -1: the reservation becomes what the output cost
            if not rows and status == TaskStatus.COMPLETED:
                # A cancel that arrived while the output was being stored wins: the client was told
                # "cancelling", so it must not end up completed.
                cancelled = q("""UPDATE tasks SET status = 'cancelled', finished_at = ?, updated_at = ?,
                                   lease_token = NULL, lease_expires_at = NULL, cancellable = 0
                                 WHERE id = ? AND lease_token = ? AND status = 'processing'
                                   AND cancel_requested = 1 RETURNING *""", (now, now, task_id, token))
                run_steps(q, record_status_changes(cancelled, now))
            run_steps(q, record_status_changes(rows, now))
        return bool(rows)

    def release(self, task_id: str, token: str) -> bool:
        """Hand a task back to the queue without counting the attempt (graceful shutdown)."""
        return self._back_to_queue(task_id, token, attempt_delta=-1)

    def requeue(self, task_id: str, token: str) -> bool:
        """Put a task whose attempt failed (engine crash) back in the queue; the attempt counts."""
        return self._back_to_queue(task_id, token, attempt_delta=0)

    def _back_to_queue(self, task_id: str, token: str, attempt_delta: int) -> bool:
        with self.transaction(write=True) as q:
            # A cancel requested meanwhile wins: the task ends cancelled instead of running again.
            now = time.time()
            rows = q("""UPDATE tasks SET
                          status = CASE WHEN cancel_requested = 1 THEN 'cancelled' ELSE 'pending' END,
                          finished_at = CASE WHEN cancel_requested = 1 THEN ? ELSE NULL END,
                          worker_id = NULL, lease_token = NULL, lease_expires_at = NULL,
                          attempts = attempts + ?, updated_at = ?
                        WHERE id = ? AND lease_token = ? AND status = 'processing' RETURNING *""",
                     (now, attempt_delta, now, task_id, token))
            run_steps(q, record_status_changes(rows, now))
        return bool(rows)
