"""Task rows, API and maintenance side: submit, read, list, cancel, delete; the reaper's and the garbage
collector's queries; and the history the estimated time is computed from. (The worker's side, every write
fenced by a lease token, is `claims.py`.)"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any

from refvid.errors import Conflict, NotFound
from refvid.tasks.model import Task
from refvid.tasks.store.base import StoreCore, dumps
from refvid.tasks.store.ledger import reserve_credits
from refvid.tasks.store.ops import Steps, reading, run_steps, writing
from refvid.tasks.store.rows import TERMINAL, record_status_changes, task_from_row

#: a task of this owner with this Idempotency-Key
_BY_KEY = "SELECT * FROM tasks WHERE owner = ? AND idempotency_key = ?"


def insert_task_steps(task: Task) -> Steps[tuple[Task, bool]]:
    """Insert; with an idempotency key already used by this owner, return the existing task and False. Of two
    creates racing on one key (PostgreSQL), the loser's insert does nothing and it returns the winner's task."""
    if task.idempotency_key:
        rows = yield _BY_KEY, (task.owner, task.idempotency_key)
        if rows:
            return task_from_row(rows[0]), False
    inserted = yield (
        """INSERT INTO tasks (id, owner, model, engine, resolution, status, progress, spec, created_at,
           updated_at, idempotency_key, request_hash, credits, service_tier, priority, expires_at)
           VALUES (?, ?, ?, ?, ?, ?, 0, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING RETURNING id""",
        (task.id, task.owner, task.spec.model, task.engine, task.spec.resolution, task.status.value,
         dumps(task.spec.to_dict()), task.created_at, task.created_at, task.idempotency_key,
         task.request_hash, task.credits, task.spec.service_tier, task.spec.priority, task.expires_at),
    )
    if not inserted:  # the key's task committed meanwhile (or, never in practice, the random id was taken)
        rows = yield _BY_KEY, (task.owner, task.idempotency_key)
        if not rows:
            raise Conflict(f"task id {task.id} is taken; retry", code="task_id_taken")
        return task_from_row(rows[0]), False
    yield from reserve_credits(task.id, task.owner, task.credits, task.created_at)
    return task, True


insert_task = writing(insert_task_steps)


@reading
def get_task(task_id: str) -> Steps[Task | None]:
    rows = yield "SELECT * FROM tasks WHERE id = ?", (task_id,)
    return task_from_row(rows[0]) if rows else None


@reading
def get_tasks(task_ids: Sequence[str]) -> Steps[dict[str, Task]]:
    """Several tasks by id in one statement (the polls of one event-loop turn: `service.TaskReads`)."""
    rows = yield f"SELECT * FROM tasks WHERE id IN ({', '.join('?' for _ in task_ids)})", tuple(task_ids)
    return {row["id"]: task_from_row(row) for row in rows}


@reading
def list_tasks(owner: str, status: str | None = None, model: str | None = None, limit: int = 20,
               after: Task | None = None, oldest_first: bool = False) -> Steps[tuple[list[Task], bool]]:
    """Newest first (or oldest first); `after` is the last task of the previous page. Returns (page,
    has_more)."""
    sql = "SELECT * FROM tasks WHERE owner = ?"
    params: list[Any] = [owner]
    if status:
        sql += " AND status = ?"
        params.append(status)
    if model:
        sql += " AND model = ?"
        params.append(model)
    beyond, order = (">", "ASC") if oldest_first else ("<", "DESC")
    if after is not None:
        sql += f" AND (created_at {beyond} ? OR (created_at = ? AND id {beyond} ?))"
        params += [after.created_at, after.created_at, after.id]
    sql += f" ORDER BY created_at {order}, id {order} LIMIT ?"
    params.append(limit + 1)
    rows = yield sql, params
    return [task_from_row(r) for r in rows[:limit]], len(rows) > limit


@writing
def request_cancel(task_id: str) -> Steps[Task]:
    """pending → cancelled now; processing → cancel requested; terminal → Conflict."""
    now = time.time()
    rows = yield ("""UPDATE tasks SET status = 'cancelled', finished_at = ?, updated_at = ?
                     WHERE id = ? AND status = 'pending' RETURNING *""", (now, now, task_id))
    yield from record_status_changes(rows, now)  # webhook event + credits released, in this transaction
    if not rows:
        rows = yield ("""UPDATE tasks SET cancel_requested = 1, updated_at = ?
                         WHERE id = ? AND status = 'processing' RETURNING *""", (now, task_id))
    if not rows:
        current = yield "SELECT status FROM tasks WHERE id = ?", (task_id,)
        state = current[0]["status"] if current else "missing"
        raise Conflict(f"task {task_id} is {state} and can no longer be cancelled", code="task_not_cancellable")
    return task_from_row(rows[0])


@writing
def delete_task(task_id: str) -> Steps[Task]:
    """Delete a terminal task; return what was deleted (for its files). Non-terminal → Conflict; gone
    (the loser of two racing deletes) → NotFound."""
    rows = yield f"DELETE FROM tasks WHERE id = ? AND status IN {TERMINAL!r} RETURNING *", (task_id,)
    if not rows:
        if not (yield "SELECT 1 AS x FROM tasks WHERE id = ?", (task_id,)):
            raise NotFound(f"task {task_id} not found", code="task_not_found")
        raise Conflict(f"task {task_id} is still running; cancel it first, then delete it",
                       code="task_not_deletable")
    return task_from_row(rows[0])


@reading
def recent_speeds(engine: str, resolution: str, limit: int = 20) -> Steps[list[float]]:
    """Seconds of run time per second of output, for the latest completed tasks of this engine/size."""
    rows = yield ("""SELECT run_s_per_output_s AS s FROM tasks WHERE engine = ? AND resolution = ?
                     AND status = 'completed' AND run_s_per_output_s IS NOT NULL
                     ORDER BY finished_at DESC LIMIT ?""", (engine, resolution, limit))
    return [float(r["s"]) for r in rows]


@reading
def pending_created_at(engine: str) -> Steps[list[float]]:
    """Creation times of the pending tasks of `engine`, oldest first (the queue's shape, for estimates)."""
    rows = yield "SELECT created_at FROM tasks WHERE status = 'pending' AND engine = ? ORDER BY created_at", (engine,)
    return [float(r["created_at"]) for r in rows]


class TaskRows(StoreCore):
    """The `tasks` table outside of a worker's lease. The API's operations are the module's (run on the event
    loop by `ops.AsyncRunner`); these methods run the same operations on the calling thread."""

    # -- API side -----------------------------------------------------------------------------------
    def insert_task(self, task: Task) -> tuple[Task, bool]:
        return self.run(insert_task(task))

    def get_task(self, task_id: str) -> Task | None:
        return self.run(get_task(task_id))

    def list_tasks(self, owner: str, status: str | None = None, model: str | None = None, limit: int = 20,
                   after: Task | None = None, oldest_first: bool = False) -> tuple[list[Task], bool]:
        return self.run(list_tasks(owner, status, model, limit, after, oldest_first))

    def request_cancel(self, task_id: str) -> Task:
        return self.run(request_cancel(task_id))

    def delete_task(self, task_id: str) -> Task:
        return self.run(delete_task(task_id))

    # -- maintenance --------------------------------------------------------------------------------
    def reap_expired(self, max_attempts: int) -> list[Task]:
        """Expired leases: cancel if asked, retry while attempts remain, else fail with worker_lost."""
        now = time.time()
        lost = dumps({"code": "worker_lost", "message": "the worker running this task stopped responding "
                      f"and the task ran out of retries ({max_attempts} attempts)"})
        with self.transaction(write=True) as q:
            cancelled = q("""UPDATE tasks SET status = 'cancelled', finished_at = ?, updated_at = ?,
                               lease_token = NULL, lease_expires_at = NULL, cancellable = 0
                             WHERE status = 'processing' AND lease_expires_at < ? AND cancel_requested = 1
                             RETURNING *""", (now, now, now))
            retried = q("""UPDATE tasks SET status = 'pending', worker_id = NULL, lease_token = NULL,
                             lease_expires_at = NULL, updated_at = ?
                           WHERE status = 'processing' AND lease_expires_at < ? AND attempts < ?
                           RETURNING *""", (now, now, max_attempts))
            failed = q("""UPDATE tasks SET status = 'failed', error = ?, finished_at = ?, updated_at = ?,
                            lease_token = NULL, lease_expires_at = NULL, cancellable = 0
                          WHERE status = 'processing' AND lease_expires_at < ? RETURNING *""",
                       (lost, now, now, now))
            run_steps(q, record_status_changes([*cancelled, *retried, *failed], now))
        return [task_from_row(r) for r in (*cancelled, *retried, *failed)]

    def expire_pending(self, deadline_s: float) -> list[Task]:
        """The server's deadline for tasks that set none of their own: not started `deadline_s` after creation
        → failed, code `expired`."""
        now = time.time()
        error = dumps({"code": "expired", "message": f"the task did not start within {deadline_s:.0f} s"})
        with self.transaction(write=True) as q:
            rows = q("""UPDATE tasks SET status = 'failed', error = ?, finished_at = ?, updated_at = ?,
                          cancellable = 0
                        WHERE status = 'pending' AND created_at < ? AND expires_at IS NULL RETURNING *""",
                     (error, now, now, now - deadline_s))
            run_steps(q, record_status_changes(rows, now))
        return [task_from_row(r) for r in rows]

    def expire_overdue(self) -> list[Task]:
        """Tasks past their own deadline (`execution_expires_after`) → failed, code `expired`, credits released
        and webhook queued in this transaction. A running one also loses its lease and gets `cancel_requested`:
        its worker stops it the way it stops a cancelled task (the engine is told "cancel", so an upstream job
        is cancelled too), and nothing that worker writes afterwards counts."""
        now = time.time()
        not_started = dumps({"code": "expired", "message": "the task did not start before its deadline "
                             "(execution_expires_after)"})
        not_finished = dumps({"code": "expired", "message": "the task did not finish before its deadline "
                              "(execution_expires_after); its run was stopped"})
        with self.transaction(write=True) as q:
            pending = q("""UPDATE tasks SET status = 'failed', error = ?, finished_at = ?, updated_at = ?,
                             cancellable = 0
                           WHERE status = 'pending' AND expires_at < ? RETURNING *""",
                        (not_started, now, now, now))
            running = q("""UPDATE tasks SET status = 'failed', error = ?, finished_at = ?, updated_at = ?,
                             lease_token = NULL, lease_expires_at = NULL, cancellable = 0, cancel_requested = 1
                           WHERE status = 'processing' AND expires_at < ? RETURNING *""",
                        (not_finished, now, now, now))
            run_steps(q, record_status_changes([*pending, *running], now))
        return [task_from_row(r) for r in (*pending, *running)]

    def uncollected_before(self, before_s: float, after: tuple[float, str] | None,
                           limit: int) -> list[tuple[float, str]]:
        """(finished_at, id) of the terminal tasks finished before `before_s` whose files were not yet
        collected, oldest first, starting after the cursor `after` (a page's last pair). Failed and cancelled
        tasks are included: a crash can leave a partial result under their folder, and marking them keeps them
        out of later passes."""
        sql = "SELECT finished_at, id FROM tasks WHERE collected_at IS NULL AND finished_at < ?"
        params: list[Any] = [before_s]
        if after is not None:
            sql += " AND (finished_at > ? OR (finished_at = ? AND id > ?))"
            params += [after[0], after[0], after[1]]
        with self.transaction(write=False) as q:
            rows = q(sql + " ORDER BY finished_at, id LIMIT ?", [*params, limit])
        return [(float(r["finished_at"]), str(r["id"])) for r in rows]

    def mark_collected(self, task_ids: Sequence[str], now_s: float) -> None:
        """The files of these tasks are gone: never pick them again, and a completed task's result says
        `{"expired": true}` (no URL is offered for it any more)."""
        if not task_ids:
            return
        marks = ", ".join("?" * len(task_ids))
        with self.transaction(write=True) as q:
            q(f"""UPDATE tasks SET collected_at = ?,
                    result = CASE WHEN status = 'completed' THEN ? ELSE result END
                  WHERE id IN ({marks})""", (now_s, dumps({"expired": True}), *task_ids))

    def count_uncollected_before(self, before_s: float) -> int:
        """The collection backlog: finished tasks past their result lifetime whose files are still kept."""
        with self.transaction(write=False) as q:
            rows = q("SELECT COUNT(*) AS n FROM tasks WHERE collected_at IS NULL AND finished_at < ?", (before_s,))
        return int(rows[0]["n"])

    def existing_task_ids(self, task_ids: Sequence[str]) -> set[str]:
        """Which of these ids name a task (the orphan sweep deletes the folders of the others)."""
        if not task_ids:
            return set()
        marks = ", ".join("?" * len(task_ids))
        with self.transaction(write=False) as q:
            rows = q(f"SELECT id FROM tasks WHERE id IN ({marks})", tuple(task_ids))
        return {str(r["id"]) for r in rows}

    # -- estimates ----------------------------------------------------------------------------------
    def recent_speeds(self, engine: str, resolution: str, limit: int = 20) -> list[float]:
        return self.run(recent_speeds(engine, resolution, limit))

    def pending_created_at(self, engine: str) -> list[float]:
        return self.run(pending_created_at(engine))

    def processing_states(self, engine: str) -> list[dict[str, Any]]:
        """The engine state of each task of `engine` now processing (the upstream engine's jobs in flight,
        fleet-wide, by the upstream each names)."""
        with self.transaction(write=False) as q:
            rows = q("SELECT engine_state FROM tasks WHERE status = 'processing' AND engine = ?", (engine,))
        return [json.loads(r["engine_state"] or "{}") for r in rows]

    def count_by_status(self) -> list[dict[str, Any]]:
        with self.transaction(write=False) as q:
            return q("SELECT status, model, COUNT(*) AS n FROM tasks GROUP BY status, model", ())
