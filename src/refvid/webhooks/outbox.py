"""The transactional outbox (design.md: "Webhook deliveries go through an outbox table written in the same
transaction as the status change"), and the credit ledger that changes in those same transactions.

Two halves:

- `record_task_created` / `record_status_changes` take the store's *open* transaction (`q`). `SqlStore`
  calls them inside the very transaction that inserts or changes a task, so a webhook event exists if and
  only if the status change committed, and credits are released exactly when a task fails or is cancelled.
- `OutboxStore` / `UsageStore` hold the queries of the delivery threads, the secret endpoint and the
  per-key limits; each runs in its own transaction through the store's `_tx`.

Portable SQL only (`?` placeholders, no dialect syntax): the same text runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from refvid.tasks.store import SqlStore

Query = Callable[[str, Sequence[Any]], list[dict[str, Any]]]
#: statuses whose reserved credits go back to the key's budget
RELEASING_STATUSES = ("failed", "cancelled")
#: outbox states: `pending` (due or waiting for a retry), then one of the final ones
FINAL_STATES = ("delivered", "failed", "disabled")


def url_hash(url: str) -> str:
    """A fixed-size key for a callback URL (URLs may be 4096 characters; index entries may not)."""
    return hashlib.sha256(url.encode()).hexdigest()


def new_message_id() -> str:
    """The `webhook-id` of one event: stable across its retries, unique across events."""
    return "msg_" + secrets.token_hex(16)


def callback_url_of(row: dict[str, Any]) -> str | None:
    """The task's `callback_url`, read from the spec JSON of a tasks row."""
    try:
        url = json.loads(row["spec"]).get("callback_url")
    except (KeyError, TypeError, ValueError, AttributeError):
        return None
    return url if isinstance(url, str) and url else None


# -- inside the store's transactions ---------------------------------------------------------------
def record_task_created(q: Query, task_id: str, owner: str, credits: int, created_at: float) -> None:
    """Reserve the task's credits in the ledger (kept when the task is deleted, so the budget counts it)."""
    q("INSERT INTO credit_ledger (task_id, owner, credits, created_at) VALUES (?, ?, ?, ?)",
      (task_id, owner, credits, created_at))


def record_status_changes(q: Query, rows: Sequence[dict[str, Any]], now: float) -> None:
    """For tasks rows that just changed status (`RETURNING *`): queue one webhook event per row that has a
    callback URL, and release the credits of failed and cancelled tasks."""
    released = [row["id"] for row in rows if row["status"] in RELEASING_STATUSES]
    if released:
        marks = ", ".join("?" for _ in released)
        q(f"DELETE FROM credit_ledger WHERE task_id IN ({marks})", released)
    for row in rows:
        url = callback_url_of(row)
        if url is None:
            continue
        snapshot = json.dumps(row, separators=(",", ":"), default=str)
        q("""INSERT INTO webhook_outbox (id, owner, task_id, event_type, url, url_hash, task_row, created_at,
               next_attempt_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)""",
          (new_message_id(), row["owner"], row["id"], f"video.generation.{row['status']}", url, url_hash(url),
           snapshot, now, now))


# -- queries in their own transactions -------------------------------------------------------------
class OutboxStore:
    """Outbox claims and outcomes, disabled endpoints, and per-key signing secrets."""

    def __init__(self, store: SqlStore):
        self._store = store

    def claim_due(self, limit: int, lease_s: float) -> tuple[str, list[dict[str, Any]]]:
        """Lease up to `limit` due messages; a task's events go out one at a time, oldest first.
        Returns (lease token, rows)."""
        now, token = time.time(), secrets.token_hex(16)
        sql = f"""UPDATE webhook_outbox SET lease_token = ?, lease_expires_at = ?
                  WHERE id IN (SELECT o.id FROM webhook_outbox o
                               WHERE o.state = 'pending' AND o.next_attempt_at <= ?
                                 AND (o.lease_expires_at IS NULL OR o.lease_expires_at < ?)
                                 AND NOT EXISTS (SELECT 1 FROM webhook_outbox p
                                                 WHERE p.task_id = o.task_id AND p.state = 'pending'
                                                   AND (p.created_at < o.created_at
                                                        OR (p.created_at = o.created_at AND p.id < o.id)))
                               ORDER BY o.next_attempt_at, o.id LIMIT ?{self._store.claim_lock_clause})
                    AND state = 'pending' AND (lease_expires_at IS NULL OR lease_expires_at < ?)
                  RETURNING *"""
        with self._store._tx(write=False) as q:  # idle polls stay readers (no SQLite write lock)
            if not q("SELECT 1 AS x FROM webhook_outbox WHERE state = 'pending' AND next_attempt_at <= ? LIMIT 1",
                     (now,)):
                return token, []
        with self._store._tx(write=True) as q:
            rows = q(sql, (token, now + lease_s, now, now, limit, now))
        return token, rows

    def settle(self, message_id: str, token: str, state: str, status: int | None, error: str | None) -> bool:
        """Record a final outcome (`delivered`, `failed`, `disabled`); False if the lease was lost."""
        assert state in FINAL_STATES
        now = time.time()
        with self._store._tx(write=True) as q:
            rows = q("""UPDATE webhook_outbox SET state = ?, attempts = attempts + 1, last_status = ?,
                          last_error = ?, finished_at = ?, lease_token = NULL, lease_expires_at = NULL
                        WHERE id = ? AND lease_token = ? AND state = 'pending' RETURNING id""",
                     (state, status, error, now, message_id, token))
        return bool(rows)

    def retry_at(self, message_id: str, token: str, next_attempt_at: float, status: int | None,
                 error: str | None) -> bool:
        """Count a failed attempt and schedule the next one."""
        with self._store._tx(write=True) as q:
            rows = q("""UPDATE webhook_outbox SET attempts = attempts + 1, next_attempt_at = ?, last_status = ?,
                          last_error = ?, lease_token = NULL, lease_expires_at = NULL
                        WHERE id = ? AND lease_token = ? AND state = 'pending' RETURNING id""",
                     (next_attempt_at, status, error, message_id, token))
        return bool(rows)

    def disable_endpoint(self, owner: str, hashed_url: str) -> None:
        """A 410 Gone: this key's deliveries to this URL stop, now and for later events."""
        with self._store._tx(write=True) as q:
            if not q("SELECT 1 AS x FROM webhook_disabled WHERE owner = ? AND url_hash = ?", (owner, hashed_url)):
                q("INSERT INTO webhook_disabled (owner, url_hash, disabled_at) VALUES (?, ?, ?)",
                  (owner, hashed_url, time.time()))

    def endpoint_disabled(self, owner: str, hashed_url: str) -> bool:
        with self._store._tx(write=False) as q:
            return bool(q("SELECT 1 AS x FROM webhook_disabled WHERE owner = ? AND url_hash = ?",
                          (owner, hashed_url)))

    def messages(self, task_id: str) -> list[dict[str, Any]]:
        """Every event of a task, oldest first (tests, debugging)."""
        with self._store._tx(write=False) as q:
            return q("SELECT * FROM webhook_outbox WHERE task_id = ? ORDER BY created_at, id", (task_id,))

    def purge(self, finished_before: float) -> int:
        """Forget settled messages and expired secrets older than `finished_before`."""
        with self._store._tx(write=True) as q:
            gone = q("""DELETE FROM webhook_outbox WHERE state <> 'pending' AND finished_at < ?
                        RETURNING id""", (finished_before,))
            q("DELETE FROM webhook_secrets WHERE expires_at IS NOT NULL AND expires_at < ?", (time.time(),))
        return len(gone)

    # -- secrets ------------------------------------------------------------------------------------
    def secrets_of(self, owner: str, now: float) -> list[dict[str, Any]]:
        """The key's valid secrets, the current one (no expiry) first, then rotated-out ones."""
        with self._store._tx(write=False) as q:
            rows = q("""SELECT secret, created_at, expires_at FROM webhook_secrets
                        WHERE owner = ? AND (expires_at IS NULL OR expires_at > ?)""", (owner, now))
        return sorted(rows, key=lambda r: (r["expires_at"] is not None, -float(r["created_at"])))

    def insert_current_secret(self, owner: str, secret: str, retire_after_s: float | None) -> None:
        """Store `secret` as the key's current one. `retire_after_s`: rotate, the previous current secret
        stays valid that long; None: only if the key has none (a concurrent insert fails the unique index)."""
        now = time.time()
        with self._store._tx(write=True) as q:
            if retire_after_s is not None:
                q("UPDATE webhook_secrets SET expires_at = ? WHERE owner = ? AND expires_at IS NULL",
                  (now + retire_after_s, owner))
            elif q("SELECT 1 AS x FROM webhook_secrets WHERE owner = ? AND expires_at IS NULL", (owner,)):
                return
            q("INSERT INTO webhook_secrets (owner, secret, created_at, expires_at) VALUES (?, ?, ?, NULL)",
              (owner, secret, now))


class UsageStore:
    """What the per-key limits count: open tasks, credits in the ledger, idempotency keys in force."""

    def __init__(self, store: SqlStore):
        self._store = store

    def open_tasks(self, owner: str) -> int:
        with self._store._tx(write=False) as q:
            rows = q("""SELECT COUNT(*) AS n FROM tasks WHERE owner = ? AND status IN ('pending', 'processing')""",
                     (owner,))
        return int(rows[0]["n"])

    def credits_used(self, owner: str, since: float) -> int:
        with self._store._tx(write=False) as q:
            rows = q("SELECT SUM(credits) AS n FROM credit_ledger WHERE owner = ? AND created_at >= ?",
                     (owner, since))
        return int(rows[0]["n"] or 0)

    def release_idempotency_key(self, owner: str, key: str, before: float) -> int:
        """Detach `key` from the key's task created before `before` (its 24 h window is over)."""
        stale = "SELECT 1 AS x FROM tasks WHERE owner = ? AND idempotency_key = ? AND created_at < ?"
        with self._store._tx(write=False) as q:
            if not q(stale, (owner, key, before)):
                return 0  # the common case, without taking the write lock
        with self._store._tx(write=True) as q:
            rows = q("""UPDATE tasks SET idempotency_key = NULL
                        WHERE owner = ? AND idempotency_key = ? AND created_at < ? RETURNING id""",
                     (owner, key, before))
        return len(rows)

    def idempotent_task_exists(self, owner: str, key: str, since: float) -> bool:
        with self._store._tx(write=False) as q:
            return bool(q("""SELECT 1 AS x FROM tasks WHERE owner = ? AND idempotency_key = ? AND created_at >= ?""",
                          (owner, key, since)))
