"""The store split by concern: it sits at the bottom (imports nothing above it), and the housekeeping queries
that moved between concerns (settled outbox messages, rotated-out secrets) still forget exactly what they should."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from refvid.tasks.model import Task, TaskSpec, new_task_id
from refvid.tasks.store import OutboxStore, SecretStore, SqlStore, open_store

HOOK = "http://127.0.0.1:9/hook"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqlStore]:
    opened = open_store(f"sqlite:///{tmp_path / 'refvid.db'}")
    yield opened
    opened.close()


def test_the_store_imports_nothing_above_it() -> None:
    code = ("import sys, refvid.tasks.store, refvid.tasks.store.sqlite, refvid.tasks.store.postgres; "
            "print(','.join(sorted(m for m in sys.modules if m.startswith(('refvid.webhooks', 'refvid.worker', "
            "'refvid.engines', 'refvid.api')))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == ""


def test_purge_forgets_settled_messages_only(store: SqlStore) -> None:
    outbox = OutboxStore(store)
    spec = TaskSpec(model="seedance-2.0-reference-to-video", prompt="p", callback_url=HOOK)
    task, _ = store.insert_task(Task(id=new_task_id(), owner="key_a", spec=spec, engine="compositor"))
    store.request_cancel(task.id)
    assert outbox.purge(time.time() + 60) == 0  # still pending: kept
    token, (message,) = outbox.claim_due(limit=1, lease_s=30)
    assert outbox.settle(str(message["id"]), token, "delivered", 200, None)
    assert outbox.purge(time.time() - 60) == 0  # settled, but recently
    assert outbox.purge(time.time() + 60) == 1
    assert outbox.messages(task.id) == []


def test_purge_forgets_secrets_after_their_grace_period(store: SqlStore) -> None:
    rows = SecretStore(store)
    rows.insert_current_secret("key_a", "whsec_first", retire_after_s=None)
    rows.insert_current_secret("key_a", "whsec_second", retire_after_s=30)
    assert rows.purge_expired(time.time()) == 0  # the first still signs for its grace period
    assert [r["secret"] for r in rows.secrets_of("key_a", time.time())] == ["whsec_second", "whsec_first"]
    assert rows.purge_expired(time.time() + 60) == 1
    assert [r["secret"] for r in rows.secrets_of("key_a", time.time())] == ["whsec_second"]
