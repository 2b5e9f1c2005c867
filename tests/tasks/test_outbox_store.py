"""The outbox, secrets and usage queries on a real SQLite file and a real PostgreSQL server (the portable SQL
must behave the same on both), and the retry schedule."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from refvid.tasks.model import Task, TaskSpec, TaskStatus, new_task_id
from refvid.tasks.store import OutboxStore, SqlStore, UsageStore, open_store
from refvid.webhooks.dispatcher import retry_delay_s
from refvid.webhooks.secrets import WebhookSecrets
from tests.support.pg_server import PgServer

HOOK = "http://127.0.0.1:9/hook"


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SqlStore]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'refvid.db'}"
    else:
        server: PgServer = request.getfixturevalue("pg_server")
        url = server.create_database()
    opened = open_store(url)
    yield opened
    opened.close()


def add_task(store: SqlStore, owner: str = "key_a", callback: str | None = HOOK, credits: int = 4) -> Task:
    spec = TaskSpec(model="seedance-2.0-reference-to-video", prompt="p", resolution="480p", callback_url=callback)
    task, _ = store.insert_task(Task(id=new_task_id(), owner=owner, spec=spec, engine="compositor",
                                     credits=credits))
    return task


def test_every_status_change_queues_one_event(store: SqlStore) -> None:
    outbox = OutboxStore(store)
    cancelled = add_task(store)
    store.request_cancel(cancelled.id)
    done = add_task(store)
    claim = store.claim_next("w", ["compositor"], lease_s=30)
    assert claim is not None and claim.task.id == done.id
    store.finish(done.id, claim.token, TaskStatus.FAILED, error={"code": "generation_failed", "message": "x"})
    assert [m["event_type"] for m in outbox.messages(cancelled.id)] == ["video.generation.cancelled"]
    assert [m["event_type"] for m in outbox.messages(done.id)] == ["video.generation.processing",
                                                                   "video.generation.failed"]


def test_concurrent_claims_hand_each_tasks_newest_event_to_one_dispatcher(store: SqlStore) -> None:
    outbox = OutboxStore(store)
    tasks = [add_task(store) for _ in range(12)]
    for _ in tasks:
        claim = store.claim_next("w", ["compositor"], lease_s=30)
        assert claim is not None
        store.finish(claim.task.id, claim.token, TaskStatus.CANCELLED)

    def claim_all(_: int) -> list[str]:
        rows = outbox.claim_due(limit=3, lease_s=30)[1]
        return [str(r["id"]) for r in rows]

    with ThreadPoolExecutor(4) as pool:
        claimed = [m for batch in pool.map(claim_all, range(8)) for m in batch]
    assert len(claimed) == len(set(claimed)) == len(tasks)  # only each task's newest event is due
    newest = {t.id: outbox.messages(t.id)[-1]["id"] for t in tasks}
    assert set(claimed) == set(newest.values())
    assert all(outbox.messages(t.id)[0]["state"] == "superseded" for t in tasks)


def test_a_lost_lease_redelivers_with_the_same_id_and_settling_is_fenced(store: SqlStore) -> None:
    outbox = OutboxStore(store)
    task = add_task(store)
    store.request_cancel(task.id)
    stale_token, (first,) = outbox.claim_due(limit=1, lease_s=0.01)
    time.sleep(0.05)
    token, (again,) = outbox.claim_due(limit=1, lease_s=30)
    assert again["id"] == first["id"]
    assert not outbox.settle(str(first["id"]), stale_token, "delivered", 200, None)  # the old lease is gone
    assert outbox.retry_at(str(first["id"]), token, time.time() + 3600, 500, "HTTP 500")
    assert outbox.claim_due(limit=1, lease_s=30)[1] == []  # not due before its retry time


def test_secrets_rotate_with_a_grace_period(store: SqlStore) -> None:
    secrets = WebhookSecrets(store, grace_s=3600)
    first = secrets.current("key_a")
    assert secrets.current("key_a") == first and secrets.current("key_b").secret != first.secret
    second = secrets.rotate("key_a")
    assert second.previous_expires_at is not None and second.previous_expires_at > time.time() + 3000
    assert secrets.signing_secrets("key_a") == [second.secret, first.secret]
    no_grace = WebhookSecrets(store, grace_s=0)
    third = no_grace.rotate("key_a")
    time.sleep(0.01)
    assert no_grace.signing_secrets("key_a") == [third.secret, first.secret]  # second expired at once


def test_usage_counts_open_tasks_and_credits_and_keeps_deleted_ones(store: SqlStore) -> None:
    usage = UsageStore(store)
    tasks = [add_task(store, callback=None, credits=4) for _ in range(3)]
    assert (usage.open_tasks("key_a"), usage.credits_used("key_a", 0)) == (3, 12)
    store.request_cancel(tasks[0].id)  # cancelled: credits released
    claim = store.claim_next("w", ["compositor"], lease_s=30)
    assert claim is not None
    store.finish(claim.task.id, claim.token, TaskStatus.COMPLETED, result={"video_key": "k"})
    store.delete_task(claim.task.id)  # deleted after completing: still spent
    assert (usage.open_tasks("key_a"), usage.credits_used("key_a", 0)) == (1, 8)
    assert usage.credits_used("key_a", time.time() + 1) == 0  # outside the window
    assert usage.open_tasks("key_b") == 0


def test_idempotency_keys_expire_after_their_window(store: SqlStore) -> None:
    usage = UsageStore(store)
    spec = TaskSpec(model="m", prompt="p")
    old, _ = store.insert_task(Task(id=new_task_id(), owner="key_a", spec=spec, engine="compositor",
                                    idempotency_key="k1", created_at=time.time() - 90000))
    assert usage.release_idempotency_key("key_a", "k1", time.time() - 86400) == 1
    new, created = store.insert_task(Task(id=new_task_id(), owner="key_a", spec=spec, engine="compositor",
                                          idempotency_key="k1"))
    assert created and new.id != old.id
    assert usage.release_idempotency_key("key_a", "k1", time.time() - 86400) == 0  # the new one is in force


def test_the_default_retry_schedule_spans_at_least_24_hours() -> None:
    from refvid.config import Settings

    settings = Settings()
    schedule, jitter = settings.webhook_retry_schedule_s, settings.webhook_retry_jitter
    assert schedule[:2] == [5.0, 300.0] and len(schedule) == 7
    assert sum(schedule) * (1 - jitter) >= 24 * 3600  # even if every delay drew the shortest jitter
    rng = random.Random(1)
    delays = [retry_delay_s(schedule, n, jitter, rng) for n in range(1, 9)]
    assert delays[-1] is None  # 1 + 7 attempts, then give up
    assert all(d is not None and s * (1 - jitter) <= d <= s * (1 + jitter) for d, s in zip(delays, schedule,
                                                                                            strict=False))
    assert len({round(d or 0, 6) for d in delays[:-1]}) == 7  # jittered: no two alike
