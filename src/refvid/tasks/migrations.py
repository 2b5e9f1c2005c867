"""Versioned schema migrations, shared by SQLite and PostgreSQL (portable SQL only).

Append new versions; never edit a released one. `refvid migrate` applies them, and so does every start.
"""

from __future__ import annotations

MIGRATIONS: list[tuple[int, list[str]]] = [
    (
        1,
        [
            """CREATE TABLE tasks (
                id TEXT PRIMARY KEY,
                owner TEXT NOT NULL,
                model TEXT NOT NULL,
                engine TEXT NOT NULL,
                resolution TEXT NOT NULL,
                status TEXT NOT NULL,
                progress INTEGER NOT NULL DEFAULT 0,
                spec TEXT NOT NULL,
                created_at DOUBLE PRECISION NOT NULL,
                updated_at DOUBLE PRECISION NOT NULL,
                started_at DOUBLE PRECISION,
                finished_at DOUBLE PRECISION,
                attempts INTEGER NOT NULL DEFAULT 0,
                cancel_requested INTEGER NOT NULL DEFAULT 0,
                cancellable INTEGER NOT NULL DEFAULT 1,
                worker_id TEXT,
                lease_token TEXT,
                lease_expires_at DOUBLE PRECISION,
                result TEXT,
                error TEXT,
                engine_state TEXT NOT NULL DEFAULT '{}',
                idempotency_key TEXT,
                request_hash TEXT,
                credits INTEGER NOT NULL DEFAULT 0,
                run_s_per_output_s DOUBLE PRECISION
            )""",
            "CREATE INDEX tasks_queue ON tasks (status, engine, created_at)",
            "CREATE INDEX tasks_owner ON tasks (owner, created_at)",
            "CREATE INDEX tasks_lease ON tasks (status, lease_expires_at)",
            "CREATE UNIQUE INDEX tasks_idempotency ON tasks (owner, idempotency_key)",
            "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
            """CREATE TABLE api_keys (
                id TEXT PRIMARY KEY,
                key_hash TEXT NOT NULL UNIQUE,
                label TEXT,
                created_at DOUBLE PRECISION NOT NULL
            )""",
            """CREATE TABLE files (
                id TEXT PRIMARY KEY,
                owner TEXT NOT NULL,
                filename TEXT NOT NULL,
                blob_key TEXT NOT NULL,
                size_bytes INTEGER NOT NULL,
                content_type TEXT,
                created_at DOUBLE PRECISION NOT NULL,
                expires_at DOUBLE PRECISION NOT NULL
            )""",
            "CREATE INDEX files_expiry ON files (expires_at)",
            """CREATE TABLE workers (
                id TEXT PRIMARY KEY,
                engines TEXT NOT NULL,
                hostname TEXT NOT NULL,
                started_at DOUBLE PRECISION NOT NULL,
                last_seen_at DOUBLE PRECISION NOT NULL
            )""",
        ],
    ),
    (
        2,
        [
            # Webhooks (spec §8): one row per event, written in the transaction of the status change.
            """CREATE TABLE webhook_outbox (
                id TEXT PRIMARY KEY,
                owner TEXT NOT NULL,
                task_id TEXT NOT NULL,
                event_type TEXT NOT NULL,
                url TEXT NOT NULL,
                url_hash TEXT NOT NULL,
                task_row TEXT NOT NULL,
                created_at DOUBLE PRECISION NOT NULL,
                state TEXT NOT NULL DEFAULT 'pending',
                attempts INTEGER NOT NULL DEFAULT 0,
                next_attempt_at DOUBLE PRECISION NOT NULL,
                lease_token TEXT,
                lease_expires_at DOUBLE PRECISION,
                last_status INTEGER,
                last_error TEXT,
                finished_at DOUBLE PRECISION
            )""",
            "CREATE INDEX webhook_outbox_due ON webhook_outbox (state, next_attempt_at)",
            "CREATE INDEX webhook_outbox_task ON webhook_outbox (task_id, state)",
            """CREATE TABLE webhook_secrets (
                owner TEXT NOT NULL,
                secret TEXT NOT NULL,
                created_at DOUBLE PRECISION NOT NULL,
                expires_at DOUBLE PRECISION
            )""",
            "CREATE UNIQUE INDEX webhook_secrets_current ON webhook_secrets (owner) WHERE expires_at IS NULL",
            """CREATE TABLE webhook_disabled (
                owner TEXT NOT NULL,
                url_hash TEXT NOT NULL,
                disabled_at DOUBLE PRECISION NOT NULL,
                PRIMARY KEY (owner, url_hash)
            )""",
            # Credits spent per key, kept when tasks are deleted (the budget counts them), released on
            # failure or cancellation.
            """CREATE TABLE credit_ledger (
                task_id TEXT PRIMARY KEY,
                owner TEXT NOT NULL,
                credits INTEGER NOT NULL,
                created_at DOUBLE PRECISION NOT NULL
            )""",
            "CREATE INDEX credit_ledger_owner ON credit_ledger (owner, created_at)",
            """INSERT INTO credit_ledger (task_id, owner, credits, created_at)
               SELECT id, owner, credits, created_at FROM tasks WHERE status NOT IN ('failed', 'cancelled')""",
            "CREATE INDEX tasks_owner_status ON tasks (owner, status)",
        ],
    ),
    (
        3,
        [
            # Webhook receivers (the callback URL's origin): deliveries are capped and circuit-broken per
            # receiver, so a claim skips the receivers that are full or resting. Rows from before this version
            # count their URL as their receiver.
            "ALTER TABLE webhook_outbox ADD COLUMN receiver TEXT",
            "UPDATE webhook_outbox SET receiver = url_hash WHERE receiver IS NULL",
            "CREATE INDEX webhook_outbox_receiver ON webhook_outbox (state, receiver)",
            # Fair claims look up when each owner was last served (claims.FAIR_ORDER).
            "CREATE INDEX tasks_owner_started ON tasks (owner, started_at)",
        ],
    ),
    (
        4,
        [
            # Garbage collection marks the tasks whose files it deleted, so no pass picks them again; the
            # partial index holds only the finished tasks still waiting for collection, so a pass reads its
            # page from there however many collected tasks the table keeps.
            "ALTER TABLE tasks ADD COLUMN collected_at DOUBLE PRECISION",
            """UPDATE tasks SET collected_at = COALESCE(finished_at, updated_at)
               WHERE result = '{"expired":true}'""",
            "CREATE INDEX tasks_uncollected ON tasks (finished_at, id) WHERE collected_at IS NULL",
        ],
    ),
    (
        5,
        [
            # How a task waits (docs/api.md "Queue order and deadlines"): claims order a key's tasks by tier
            # and priority (claims.FAIR_ORDER), and maintenance ends the tasks past their own deadline; the
            # partial index holds only the tasks that have one, so the per-second pass reads only those.
            "ALTER TABLE tasks ADD COLUMN service_tier TEXT NOT NULL DEFAULT 'default'",
            "ALTER TABLE tasks ADD COLUMN priority INTEGER NOT NULL DEFAULT 0",
            "ALTER TABLE tasks ADD COLUMN expires_at DOUBLE PRECISION",
            "CREATE INDEX tasks_deadline ON tasks (status, expires_at) WHERE expires_at IS NOT NULL",
        ],
    ),
]

LATEST_VERSION = MIGRATIONS[-1][0]
