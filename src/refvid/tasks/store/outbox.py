"""The transactional outbox (design.md: "Webhook deliveries go through an outbox table written in the same
transaction as the status change").

Two halves:

- `queue_events` is steps of a status change's transaction (`ops.py`; taken in through
  `rows.record_status_changes`), so an event exists if and only if the change committed.
- `OutboxStore` holds the queries of the delivery threads (`refvid.webhooks.dispatcher`): lease due messages,
  record outcomes, disabled endpoints. Each runs in its own transaction.

Ordering without head-of-line blocking (spec §8): a newer event of a task supersedes its older ones that are
still pending (they end `superseded`, never delivered), so a receiver never gets an older state after a
newer one and a newer one never waits out an older one's retries. The only wait left: while an older event
is on the wire (leased), the newer one is not sent beside it. Each row carries its `owner` and `receiver` (the
URL's origin) so that claims can skip the lanes (owner, receiver) and receivers the dispatcher holds back
(`refvid.webhooks.receivers`).

Portable SQL only (`?` placeholders, no dialect syntax): the same text runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import urlsplit

from refvid.tasks.store.base import StoreCore
from refvid.tasks.store.ops import Steps

#: outbox states: `pending` (due or waiting for a retry), then one of the final ones
FINAL_STATES = ("delivered", "failed", "disabled", "superseded")
#: how many due messages a claim looks at to fill its free slots (the rest wait for the next round)
CANDIDATES_PER_SLOT = 4
Choose = Callable[[Sequence[dict[str, Any]], int], list[str]]
"""(due candidates oldest first, free slots) → ids to lease (`ReceiverGate.choose`)."""


def url_hash(url: str) -> str:
    """A fixed-size key for a callback URL (URLs may be 4096 characters; index entries may not)."""
    return hashlib.sha256(url.encode()).hexdigest()


def receiver_of(url: str) -> str:
    """The receiver a callback URL points at: its origin, `scheme://host:port` (default ports filled in)."""
    try:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        port = parts.port or {"http": 80, "https": 443}.get(scheme, 0)
    except ValueError:  # an unparsable port: the URL alone is its receiver
        return url_hash(url)
    return f"{scheme}://{(parts.hostname or '').lower()}:{port}"


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


def queue_events(rows: Sequence[dict[str, Any]], now: float) -> Steps[None]:
    """Inside a status change's transaction: one `video.generation.<status>` event per changed row that has
    a callback URL, carrying a snapshot of the row (the delivery renders the task as it was then)."""
    for row in rows:
        url = callback_url_of(row)
        if url is None:
            continue
        snapshot = json.dumps(row, separators=(",", ":"), default=str)
        yield ("""INSERT INTO webhook_outbox (id, owner, task_id, event_type, url, url_hash, receiver, task_row,
                    created_at, next_attempt_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
               (new_message_id(), row["owner"], row["id"], f"video.generation.{row['status']}", url, url_hash(url),
                receiver_of(url), snapshot, now, now))


class OutboxStore:
    """Outbox claims and outcomes, and disabled endpoints."""

    def __init__(self, core: StoreCore):
        self._core = core

    def claim_due(self, limit: int, lease_s: float, choose: Choose | None = None,
                  skip_lanes: Sequence[tuple[str, str]] = (),
                  skip_receivers: Sequence[str] = ()) -> tuple[str, list[dict[str, Any]]]:
        """Lease up to `limit` due messages, oldest due first: first supersede the older pending events of
        every task that has a newer one; then, of each task, only its newest event is due, and only while no
        older one is on the wire. The messages of `skip_lanes` ((owner, receiver) pairs) and `skip_receivers`
        are left out, in the query, so that one key's backlog cannot crowd the others out of the candidates;
        `choose` picks among the candidates (per lane caps). Returns (lease token, rows)."""
        now, token = time.time(), secrets.token_hex(16)
        with self._core.transaction(write=False) as q:  # idle polls stay readers (no SQLite write lock)
            if limit < 1 or not q("""SELECT 1 AS x FROM webhook_outbox
                                     WHERE state = 'pending' AND next_attempt_at <= ? LIMIT 1""", (now,)):
                return token, []
        skip: list[str] = [value for lane in skip_lanes for value in lane] + list(skip_receivers)
        not_skipped = "".join(" AND NOT (o.owner = ? AND o.receiver = ?)" for _ in skip_lanes)
        if skip_receivers:
            not_skipped += f" AND o.receiver NOT IN ({', '.join('?' for _ in skip_receivers)})"
        with self._core.transaction(write=True) as q:
            q("""UPDATE webhook_outbox SET state = 'superseded', finished_at = ?
                 WHERE state = 'pending' AND (lease_expires_at IS NULL OR lease_expires_at < ?)
                   AND EXISTS (SELECT 1 FROM webhook_outbox n
                               WHERE n.task_id = webhook_outbox.task_id AND n.state = 'pending'
                                 AND (n.created_at > webhook_outbox.created_at
                                      OR (n.created_at = webhook_outbox.created_at AND n.id > webhook_outbox.id)))""",
              (now, now))
            candidates = q(f"""SELECT o.id, o.owner, o.receiver FROM webhook_outbox o
                               WHERE o.state = 'pending' AND o.next_attempt_at <= ?
                                 AND (o.lease_expires_at IS NULL OR o.lease_expires_at < ?)
                                 AND NOT EXISTS (SELECT 1 FROM webhook_outbox p WHERE p.task_id = o.task_id
                                                 AND p.state = 'pending' AND p.id <> o.id){not_skipped}
                               ORDER BY o.next_attempt_at, o.id LIMIT ?{self._core.claim_lock_clause}""",
                           (now, now, *skip, limit * CANDIDATES_PER_SLOT))
            ids = choose(candidates, limit) if choose else [str(c["id"]) for c in candidates[:limit]]
            if not ids:
                return token, []
            rows = q(f"""UPDATE webhook_outbox SET lease_token = ?, lease_expires_at = ?
                         WHERE id IN ({', '.join('?' for _ in ids)}) AND state = 'pending'
                           AND (lease_expires_at IS NULL OR lease_expires_at < ?)
                         RETURNING *""", (token, now + lease_s, *ids, now))
        rows.sort(key=lambda r: (float(r["next_attempt_at"]), str(r["id"])))
        return token, rows

    def settle(self, message_id: str, token: str, state: str, status: int | None, error: str | None) -> bool:
        """Record a final outcome (`delivered`, `failed`, `disabled`); False if the lease was lost."""
        assert state in FINAL_STATES
        now = time.time()
        with self._core.transaction(write=True) as q:
            rows = q("""UPDATE webhook_outbox SET state = ?, attempts = attempts + 1, last_status = ?,
                          last_error = ?, finished_at = ?, lease_token = NULL, lease_expires_at = NULL
                        WHERE id = ? AND lease_token = ? AND state = 'pending' RETURNING id""",
                     (state, status, error, now, message_id, token))
        return bool(rows)

    def retry_at(self, message_id: str, token: str, next_attempt_at: float, status: int | None,
                 error: str | None) -> bool:
        """Count a failed attempt and schedule the next one."""
        with self._core.transaction(write=True) as q:
            rows = q("""UPDATE webhook_outbox SET attempts = attempts + 1, next_attempt_at = ?, last_status = ?,
                          last_error = ?, lease_token = NULL, lease_expires_at = NULL
                        WHERE id = ? AND lease_token = ? AND state = 'pending' RETURNING id""",
                     (next_attempt_at, status, error, message_id, token))
        return bool(rows)

    def disable_endpoint(self, owner: str, hashed_url: str) -> None:
        """A 410 Gone: this key's deliveries to this URL stop, now and for later events."""
        with self._core.transaction(write=True) as q:
            if not q("SELECT 1 AS x FROM webhook_disabled WHERE owner = ? AND url_hash = ?", (owner, hashed_url)):
                q("INSERT INTO webhook_disabled (owner, url_hash, disabled_at) VALUES (?, ?, ?)",
                  (owner, hashed_url, time.time()))

    def endpoint_disabled(self, owner: str, hashed_url: str) -> bool:
        with self._core.transaction(write=False) as q:
            return bool(q("SELECT 1 AS x FROM webhook_disabled WHERE owner = ? AND url_hash = ?",
                          (owner, hashed_url)))

    def messages(self, task_id: str) -> list[dict[str, Any]]:
        """Every event of a task, oldest first (tests, debugging)."""
        with self._core.transaction(write=False) as q:
            return q("SELECT * FROM webhook_outbox WHERE task_id = ? ORDER BY created_at, id", (task_id,))

    def purge(self, finished_before: float) -> int:
        """Forget settled messages older than `finished_before`."""
        with self._core.transaction(write=True) as q:
            gone = q("""DELETE FROM webhook_outbox WHERE state <> 'pending' AND finished_at < ?
                        RETURNING id""", (finished_before,))
        return len(gone)
