"""The task store: the tasks table is the queue (design.md "Tasks are the queue").

`SqlStore` holds every query once, in portable SQL; `sqlite_store.SqliteStore` and
`postgres_store.PostgresStore` supply connections, transactions and the few dialect differences
(row locking for claims, GREATEST vs MAX). `open_store(url)` picks one from the database URL.
"""

from __future__ import annotations

import json
import secrets
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import Any

from refvid.errors import Conflict
from refvid.tasks.migrations import MIGRATIONS
from refvid.tasks.model import Claim, Heartbeat, Task, TaskSpec, TaskStatus
from refvid.webhooks.outbox import record_status_changes, record_task_created

Query = Callable[[str, Sequence[Any]], list[dict[str, Any]]]

TERMINAL = tuple(s.value for s in TaskStatus if s.is_terminal())


def task_from_row(row: dict[str, Any]) -> Task:
    return Task(
        id=row["id"],
        owner=row["owner"],
        spec=TaskSpec.from_dict(json.loads(row["spec"])),
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


def _dumps(value: Any) -> str | None:
    return None if value is None else json.dumps(value, separators=(",", ":"), sort_keys=True)


class SqlStore(ABC):
    """Every query of the store. Subclasses provide `_tx` and the dialect hooks."""

    #: appended to the claim's inner SELECT (PostgreSQL: FOR UPDATE SKIP LOCKED)
    claim_lock_clause = ""
    #: the two-argument maximum function
    greatest = "MAX"

    @abstractmethod
    def _tx(self, write: bool) -> AbstractContextManager[Query]:
        """A transaction; `write=True` takes the write lock up front (SQLite BEGIN IMMEDIATE)."""

    def close(self) -> None:
        """Release connections."""

    # -- schema -------------------------------------------------------------------------------------
    def migrate(self) -> int:
        """Apply pending migrations; return the schema version."""
        with self._tx(write=True) as q:
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

    # -- meta, keys, workers -----------------------------------------------------------------------
    def meta_get_or_set(self, key: str, make: Callable[[], str]) -> str:
        """Read `key`; if absent, store `make()` — the first writer wins across processes."""
        with self._tx(write=True) as q:
            rows = q("SELECT value FROM meta WHERE key = ?", (key,))
            if rows:
                return str(rows[0]["value"])
            value = make()
            q("INSERT INTO meta (key, value) VALUES (?, ?)", (key, value))
            return value

    def add_api_key(self, key_id: str, key_hash: str, label: str | None = None) -> None:
        with self._tx(write=True) as q:
            q("INSERT INTO api_keys (id, key_hash, label, created_at) VALUES (?, ?, ?, ?)",
              (key_id, key_hash, label, time.time()))

    def api_key_hashes(self) -> dict[str, str]:
        """key_hash → key id."""
        with self._tx(write=False) as q:
            return {r["key_hash"]: r["id"] for r in q("SELECT id, key_hash FROM api_keys", ())}

    def touch_worker(self, worker_id: str, engines: Sequence[str], hostname: str) -> None:
        now = time.time()
        with self._tx(write=True) as q:
            updated = q("UPDATE workers SET last_seen_at = ?, engines = ? WHERE id = ? RETURNING id",
                        (now, ",".join(engines), worker_id))
            if not updated:
                q("INSERT INTO workers (id, engines, hostname, started_at, last_seen_at) VALUES (?, ?, ?, ?, ?)",
                  (worker_id, ",".join(engines), hostname, now, now))

    def remove_worker(self, worker_id: str) -> None:
        with self._tx(write=True) as q:
            q("DELETE FROM workers WHERE id = ?", (worker_id,))

    def live_workers(self, engine: str, within_s: float) -> int:
        with self._tx(write=False) as q:
            rows = q("SELECT engines FROM workers WHERE last_seen_at >= ?", (time.time() - within_s,))
        return sum(1 for r in rows if engine in str(r["engines"]).split(","))

    # -- tasks: API side ---------------------------------------------------------------------------
    def insert_task(self, task: Task) -> tuple[Task, bool]:
        """Insert; with an idempotency key already used by this owner, return the existing task and False."""
        with self._tx(write=True) as q:
            if task.idempotency_key:
                rows = q("SELECT * FROM tasks WHERE owner = ? AND idempotency_key = ?",
                         (task.owner, task.idempotency_key))
                if rows:
                    return task_from_row(rows[0]), False
            q(
                """INSERT INTO tasks (id, owner, model, engine, resolution, status, progress, spec, created_at,
                   updated_at, idempotency_key, request_hash, credits)
                   VALUES (?, ?, ?, ?, ?, ?, 0, ?, ?, ?, ?, ?, ?)""",
                (task.id, task.owner, task.spec.model, task.engine, task.spec.resolution, task.status.value,
                 _dumps(task.spec.to_dict()), task.created_at, task.created_at, task.idempotency_key,
                 task.request_hash, task.credits),
            )
            record_task_created(q, task.id, task.owner, task.credits, task.created_at)
        return task, True

    def get_task(self, task_id: str) -> Task | None:
        with self._tx(write=False) as q:
            rows = q("SELECT * FROM tasks WHERE id = ?", (task_id,))
        return task_from_row(rows[0]) if rows else None

    def list_tasks(self, owner: str, status: str | None = None, model: str | None = None, limit: int = 20,
                   after: Task | None = None) -> tuple[list[Task], bool]:
        """Newest first; `after` is the last task of the previous page. Returns (page, has_more)."""
        sql = "SELECT * FROM tasks WHERE owner = ?"
        params: list[Any] = [owner]
        if status:
            sql += " AND status = ?"
            params.append(status)
        if model:
            sql += " AND model = ?"
            params.append(model)
        if after is not None:
            sql += " AND (created_at < ? OR (created_at = ? AND id < ?))"
            params += [after.created_at, after.created_at, after.id]
        sql += " ORDER BY created_at DESC, id DESC LIMIT ?"
        params.append(limit + 1)
        with self._tx(write=False) as q:
            rows = q(sql, params)
        return [task_from_row(r) for r in rows[:limit]], len(rows) > limit

    def request_cancel(self, task_id: str) -> Task:
        """pending → cancelled now; processing → cancel requested; terminal → Conflict."""
        now = time.time()
        with self._tx(write=True) as q:
            rows = q("""UPDATE tasks SET status = 'cancelled', finished_at = ?, updated_at = ?
                        WHERE id = ? AND status = 'pending' RETURNING *""", (now, now, task_id))
            record_status_changes(q, rows, now)  # webhook event + credits released, in this transaction
            if not rows:
                rows = q("""UPDATE tasks SET cancel_requested = 1, updated_at = ?
                            WHERE id = ? AND status = 'processing' RETURNING *""", (now, task_id))
            if not rows:
                current = q("SELECT status FROM tasks WHERE id = ?", (task_id,))
                state = current[0]["status"] if current else "missing"
                raise Conflict(f"task {task_id} is {state} and can no longer be cancelled",
                               code="task_not_cancellable")
        return task_from_row(rows[0])

    def delete_task(self, task_id: str) -> Task:
        """Delete a terminal task; return what was deleted (for its files). Non-terminal → Conflict."""
        with self._tx(write=True) as q:
            rows = q(f"DELETE FROM tasks WHERE id = ? AND status IN {TERMINAL!r} RETURNING *", (task_id,))
            if not rows:
                raise Conflict(f"task {task_id} is still running; cancel it first, then delete it",
                               code="task_not_deletable")
        return task_from_row(rows[0])

    # -- tasks: worker side (every write names the lease token) ------------------------------------
    def claim_next(self, worker_id: str, engines: Sequence[str], lease_s: float) -> Claim | None:
        if not engines:
            return None
        now = time.time()
        token = secrets.token_hex(16)
        marks = ", ".join("?" for _ in engines)
        sql = f"""UPDATE tasks SET status = 'processing', worker_id = ?, lease_token = ?, lease_expires_at = ?,
                    attempts = attempts + 1, cancellable = 1,
                    started_at = COALESCE(started_at, ?), updated_at = ?
                  WHERE id = (SELECT id FROM tasks WHERE status = 'pending' AND engine IN ({marks})
                              ORDER BY created_at, id LIMIT 1{self.claim_lock_clause})
                    AND status = 'pending'
                  RETURNING *"""
        with self._tx(write=True) as q:
            rows = q(sql, (worker_id, token, now + lease_s, now, now, *engines))
            record_status_changes(q, rows, now)
        return Claim(task_from_row(rows[0]), token) if rows else None

    def heartbeat(self, task_id: str, token: str, progress: int, lease_s: float,
                  cancellable: bool = True) -> Heartbeat:
        """Renew the lease, store monotonic progress, read back whether a cancel was requested."""
        now = time.time()
        with self._tx(write=True) as q:
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
        with self._tx(write=False) as q:
            rows = q("SELECT cancel_requested, status FROM tasks WHERE id = ?", (task_id,))
        return bool(rows and (rows[0]["cancel_requested"] or rows[0]["status"] == "cancelled"))

    def save_engine_state(self, task_id: str, token: str, state: dict[str, Any]) -> bool:
        with self._tx(write=True) as q:
            # An engine saying "no longer cancellable" (relay: the provider started) is visible at once.
            cancellable = int(bool(state.get("cancellable", True)))
            rows = q("""UPDATE tasks SET engine_state = ?, updated_at = ?,
                          cancellable = CASE WHEN ? = 0 THEN 0 ELSE cancellable END
                        WHERE id = ? AND lease_token = ? AND status = 'processing' RETURNING id""",
                     (_dumps(state), time.time(), cancellable, task_id, token))
        return bool(rows)

    def finish(self, task_id: str, token: str, status: TaskStatus, *, result: dict[str, Any] | None = None,
               error: dict[str, Any] | None = None, run_s_per_output_s: float | None = None) -> bool:
        """Record the one outcome of a task. False if it was not recorded: this worker's lease is gone
        (someone else owns it), or a cancel requested meanwhile turned a completion into `cancelled`."""
        assert status.is_terminal()
        now = time.time()
        with self._tx(write=True) as q:
            rows = q(
                """UPDATE tasks SET status = ?, result = ?, error = ?, finished_at = ?, updated_at = ?,
                       progress = CASE WHEN ? = 'completed' THEN 100 ELSE progress END,
                       lease_token = NULL, lease_expires_at = NULL, cancellable = 0, run_s_per_output_s = ?
                   WHERE id = ? AND lease_token = ? AND status = 'processing'
                     AND (? <> 'completed' OR cancel_requested = 0) RETURNING *""",
                (status.value, _dumps(result), _dumps(error), now, now, status.value, run_s_per_output_s,
                 task_id, token, status.value),
            )
            if not rows and status == TaskStatus.COMPLETED:
                # A cancel that arrived while the output was being stored wins: the client was told
                # "cancelling", so it must not end up completed.
                cancelled = q("""UPDATE tasks SET status = 'cancelled', finished_at = ?, updated_at = ?,
                                   lease_token = NULL, lease_expires_at = NULL, cancellable = 0
                                 WHERE id = ? AND lease_token = ? AND status = 'processing'
                                   AND cancel_requested = 1 RETURNING *""", (now, now, task_id, token))
                record_status_changes(q, cancelled, now)
            record_status_changes(q, rows, now)
        return bool(rows)

    def release(self, task_id: str, token: str) -> bool:
        """Hand a task back to the queue without counting the attempt (graceful shutdown)."""
        return self._back_to_queue(task_id, token, attempt_delta=-1)

    def requeue(self, task_id: str, token: str) -> bool:
        """Put a task whose attempt failed (engine crash) back in the queue; the attempt counts."""
        return self._back_to_queue(task_id, token, attempt_delta=0)

    def _back_to_queue(self, task_id: str, token: str, attempt_delta: int) -> bool:
        with self._tx(write=True) as q:
            # A cancel requested meanwhile wins: the task ends cancelled instead of running again.
            now = time.time()
            rows = q("""UPDATE tasks SET
                          status = CASE WHEN cancel_requested = 1 THEN 'cancelled' ELSE 'pending' END,
                          finished_at = CASE WHEN cancel_requested = 1 THEN ? ELSE NULL END,
                          worker_id = NULL, lease_token = NULL, lease_expires_at = NULL,
                          attempts = attempts + ?, updated_at = ?
                        WHERE id = ? AND lease_token = ? AND status = 'processing' RETURNING *""",
                     (now, attempt_delta, now, task_id, token))
            record_status_changes(q, rows, now)
        return bool(rows)

    # -- maintenance --------------------------------------------------------------------------------
    def reap_expired(self, max_attempts: int) -> list[Task]:
        """Expired leases: cancel if asked, retry while attempts remain, else fail with worker_lost."""
        now = time.time()
        lost = _dumps({"code": "worker_lost", "message": "the worker running this task stopped responding "
                       f"and the task ran out of retries ({max_attempts} attempts)"})
        with self._tx(write=True) as q:
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
            record_status_changes(q, [*cancelled, *retried, *failed], now)
        return [task_from_row(r) for r in (*cancelled, *retried, *failed)]

    def expire_pending(self, deadline_s: float) -> list[Task]:
        now = time.time()
        error = _dumps({"code": "expired", "message": f"the task did not start within {deadline_s:.0f} s"})
        with self._tx(write=True) as q:
            rows = q("""UPDATE tasks SET status = 'failed', error = ?, finished_at = ?, updated_at = ?,
                          cancellable = 0
                        WHERE status = 'pending' AND created_at < ? RETURNING *""",
                     (error, now, now, now - deadline_s))
            record_status_changes(q, rows, now)
        return [task_from_row(r) for r in rows]

    def finished_before(self, before_s: float, limit: int = 100) -> list[Task]:
        with self._tx(write=False) as q:
            rows = q("""SELECT * FROM tasks WHERE status = 'completed' AND finished_at < ?
                        AND result IS NOT NULL ORDER BY finished_at LIMIT ?""", (before_s, limit))
        return [task_from_row(r) for r in rows]

    def clear_result(self, task_id: str) -> None:
        """Forget the files of an old result (they were garbage-collected); the task stays."""
        with self._tx(write=True) as q:
            q("UPDATE tasks SET result = ? WHERE id = ?", (_dumps({"expired": True}), task_id))

    # -- estimates ----------------------------------------------------------------------------------
    def recent_speeds(self, engine: str, resolution: str, limit: int = 20) -> list[float]:
        """Seconds of run time per second of output, for the latest completed tasks of this engine/size."""
        with self._tx(write=False) as q:
            rows = q("""SELECT run_s_per_output_s AS s FROM tasks WHERE engine = ? AND resolution = ?
                        AND status = 'completed' AND run_s_per_output_s IS NOT NULL
                        ORDER BY finished_at DESC LIMIT ?""", (engine, resolution, limit))
        return [float(r["s"]) for r in rows]

    def pending_ahead(self, task: Task) -> int:
        with self._tx(write=False) as q:
            rows = q("""SELECT COUNT(*) AS n FROM tasks WHERE status = 'pending' AND engine = ?
                        AND (created_at < ? OR (created_at = ? AND id < ?))""",
                     (task.engine, task.created_at, task.created_at, task.id))
        return int(rows[0]["n"])

    def count_by_status(self) -> list[dict[str, Any]]:
        with self._tx(write=False) as q:
            return q("SELECT status, model, COUNT(*) AS n FROM tasks GROUP BY status, model", ())

    # -- uploaded files -----------------------------------------------------------------------------
    def insert_file(self, row: dict[str, Any]) -> None:
        with self._tx(write=True) as q:
            q("""INSERT INTO files (id, owner, filename, blob_key, size_bytes, content_type, created_at, expires_at)
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?)""",
              (row["id"], row["owner"], row["filename"], row["blob_key"], row["size_bytes"],
               row.get("content_type"), row["created_at"], row["expires_at"]))

    def get_file(self, file_id: str) -> dict[str, Any] | None:
        with self._tx(write=False) as q:
            rows = q("SELECT * FROM files WHERE id = ?", (file_id,))
        return rows[0] if rows else None

    def delete_expired_files(self, now_s: float) -> list[dict[str, Any]]:
        with self._tx(write=True) as q:
            return q("DELETE FROM files WHERE expires_at < ? RETURNING *", (now_s,))


def open_store(database_url: str, pool_size: int = 10) -> SqlStore:
    """`sqlite:///path.db` or `postgresql://…` → a migrated store (`pool_size`: PostgreSQL connections)."""
    if database_url.startswith("sqlite:"):
        from refvid.tasks.sqlite_store import SqliteStore

        store: SqlStore = SqliteStore(database_url)
    elif database_url.startswith(("postgresql:", "postgres:")):
        from refvid.tasks.postgres_store import PostgresStore

        store = PostgresStore(database_url, pool_size=pool_size)
    else:
        raise ValueError(f"unsupported database URL {database_url!r}: use sqlite:///… or postgresql://…")
    store.migrate()
    return store


