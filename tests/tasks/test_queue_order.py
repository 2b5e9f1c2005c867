"""How a task waits (docs/api.md "Queue order and deadlines"), part of the store contract on SQLite and
PostgreSQL: within a key, default tier before flex, then higher priority, then oldest; across keys the fair
order is unchanged; and a task past its own deadline ends failed with code `expired`, pending or running,
its credits released and its webhook queued in the same transaction."""

from __future__ import annotations

import time
from dataclasses import replace

from refvid.tasks.model import Task, TaskStatus
from refvid.tasks.store import LedgerStore, SqlStore
from tests.support.stores import ENGINE, make_task


def queued(owner: str, at: float, *, tier: str = "default", priority: int = 0,
           expires_after_s: int | None = None, callback: str | None = None) -> Task:
    task = make_task(owner=owner, at=at)
    return task.with_(spec=replace(task.spec, service_tier=tier, priority=priority,
                                   execution_expires_after=expires_after_s, callback_url=callback))


def drain(store: SqlStore) -> list[str]:
    """Claim and finish until the queue is empty, with one worker; the ids in claim order."""
    order = []
    while (claim := store.claim_next("w1", [ENGINE], 30)) is not None:
        order.append(claim.task.id)
        assert store.finish(claim.task.id, claim.token, TaskStatus.COMPLETED, result={})
    return order


def test_within_a_key_default_tier_goes_before_flex_then_higher_priority_then_oldest(store: SqlStore) -> None:
    flex_old = queued("key_a", 1.0, tier="flex")
    flex_urgent = queued("key_a", 2.0, tier="flex", priority=9)
    plain = queued("key_a", 3.0)
    urgent = queued("key_a", 4.0, priority=5)
    urgent_later = queued("key_a", 5.0, priority=5)
    for task in (flex_old, flex_urgent, plain, urgent, urgent_later):  # flex submitted first, workers idle
        store.insert_task(task)
    assert drain(store) == [urgent.id, urgent_later.id, plain.id, flex_urgent.id, flex_old.id]
    stored = store.get_task(flex_urgent.id)
    assert stored is not None and (stored.spec.service_tier, stored.spec.priority) == ("flex", 9)


def test_a_keys_flex_tasks_wait_only_behind_its_own_default_tasks(store: SqlStore) -> None:
    """Key B's single flex task is still served second, between key A's tasks: tier and priority order a key's
    own queue, never another key's turn."""
    a = [queued("key_a", 10.0 + i, priority=9) for i in range(3)]
    b_flex = queued("key_b", 20.0, tier="flex")
    for task in (*a, b_flex):
        store.insert_task(task)
    order = drain(store)
    assert order[1] == b_flex.id and [i for i in order if i != b_flex.id] == [t.id for t in a]


def expire_now(store: SqlStore, *tasks: Task) -> None:
    """Move the stored deadline into the past (the wire's floor is 3600 s; a test cannot wait that long)."""
    with store.transaction(write=True) as q:
        for task in tasks:
            q("UPDATE tasks SET expires_at = ? WHERE id = ?", (time.time() - 1, task.id))


def test_tasks_past_their_deadline_expire_pending_and_running(store: SqlStore) -> None:
    hook = "http://127.0.0.1:9/hook"
    running, waiting, spared = (queued("key_a", time.time() - 5 + i, expires_after_s=3600, callback=hook)
                                for i in range(3))
    store.insert_task(running)
    claim = store.claim_next("w1", [ENGINE], 30)
    assert claim is not None and claim.task.id == running.id
    for task in (waiting, spared):
        store.insert_task(task)
    stored = store.get_task(waiting.id)
    assert stored is not None and stored.expires_at == waiting.created_at + 3600
    assert store.expire_overdue() == [] and store.expire_pending(deadline_s=1) == []  # own deadline governs
    expire_now(store, waiting, running)

    expired = {task.id: task for task in store.expire_overdue()}
    assert set(expired) == {waiting.id, running.id}
    for task in expired.values():
        assert task.status == TaskStatus.FAILED and (task.error or {})["code"] == "expired"
        assert task.finished_at is not None and not task.can_cancel
    assert "did not start" in expired[waiting.id].error["message"]  # type: ignore[index]
    assert "did not finish" in expired[running.id].error["message"]  # type: ignore[index]
    # The running task's worker is told to stop as for a cancel, and can record nothing any more.
    assert store.cancel_requested(running.id)
    assert not store.heartbeat(running.id, claim.token, 50, 30).ok
    assert not store.finish(running.id, claim.token, TaskStatus.COMPLETED, result={"late": True})
    assert store.get_task(running.id).status == TaskStatus.FAILED  # type: ignore[union-attr]
    # Credits: only the spared task still holds its reservation.
    assert LedgerStore(store).credits_used("key_a", 0) == spared.credits
    with store.transaction(write=False) as q:
        events = q("SELECT task_id, event_type FROM webhook_outbox WHERE event_type = ?",
                   ("video.generation.failed",))
    assert {e["task_id"] for e in events} == {waiting.id, running.id}
    assert store.expire_overdue() == []
