"""Group commit (api/group_commit.py): creates that reach the event loop in one turn share a transaction on
SQLite, each keeps its own outcome, and none answers before the batch is durable."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import pytest

from refvid.api.group_commit import GroupCommit
from refvid.errors import Conflict
from refvid.tasks.model import Task
from refvid.tasks.store import SqlStore, open_store
from refvid.tasks.store.sqlite import SqliteStore
from tests.support.stores import make_task


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    opened = open_store(f"sqlite:///{tmp_path / 'refvid.db'}")
    assert isinstance(opened, SqliteStore)
    yield opened
    opened.close()


def count_batches(store: SqlStore, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many times the store opened a batch transaction (a spy: the batch itself runs for real)."""
    opened: list[int] = []
    real = store.write_batch

    def counted() -> AbstractContextManager[None]:
        opened.append(1)
        return real()

    monkeypatch.setattr(store, "write_batch", counted)
    return opened


def committed_ids(store: SqliteStore) -> set[str]:
    """The task ids another connection can see: only what was committed."""
    with sqlite3.connect(store.path) as other:
        return {row[0] for row in other.execute("SELECT id FROM tasks")}


async def test_creates_of_one_turn_share_one_commit_and_all_are_durable(
        store: SqliteStore, monkeypatch: pytest.MonkeyPatch) -> None:
    batches = count_batches(store, monkeypatch)
    commits = GroupCommit(store)
    tasks = [make_task() for _ in range(40)]
    results = await asyncio.gather(*(commits.run(store.insert_task, task) for task in tasks))
    assert [stored.id for stored, created in results] == [task.id for task in tasks]
    assert all(created for _, created in results)
    assert len(batches) == 1
    assert committed_ids(store) == {task.id for task in tasks}


async def test_nothing_answers_before_its_batch_is_committed(store: SqliteStore) -> None:
    commits = GroupCommit(store)
    task = make_task()
    pending = asyncio.ensure_future(commits.run(store.insert_task, task))
    await asyncio.sleep(0)  # the create is queued; its batch has not run yet
    assert not pending.done() and committed_ids(store) == set()
    await pending
    assert committed_ids(store) == {task.id}


async def test_a_create_that_fails_is_undone_alone(store: SqliteStore) -> None:
    commits = GroupCommit(store)
    doomed = make_task()

    def insert_then_refuse(task: Task) -> None:
        store.insert_task(task)  # written inside the batch, then undone with its savepoint
        raise Conflict("refused after writing", code="test_refusal")

    before, after = make_task(), make_task()
    outcomes = await asyncio.gather(commits.run(store.insert_task, before),
                                    commits.run(insert_then_refuse, doomed),
                                    commits.run(store.insert_task, after), return_exceptions=True)
    assert isinstance(outcomes[1], Conflict) and outcomes[1].code == "test_refusal"
    assert committed_ids(store) == {before.id, after.id}
    assert store.get_task(doomed.id) is None


async def test_a_batch_that_cannot_commit_fails_every_create_in_it(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'busy.db'}")
    assert isinstance(store, SqliteStore)
    locked = SqliteStore(f"sqlite:///{store.path}", busy_timeout_s=0.1)  # gives up on a held lock at once
    holder = sqlite3.connect(store.path, isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        commits = GroupCommit(locked)
        tasks = [make_task() for _ in range(3)]
        outcomes = await asyncio.gather(*(commits.run(locked.insert_task, t) for t in tasks), return_exceptions=True)
        assert all(isinstance(outcome, sqlite3.OperationalError) for outcome in outcomes)
        holder.execute("ROLLBACK")
        assert committed_ids(store) == set()
        again = await commits.run(locked.insert_task, tasks[0])  # the lock is free again: the store recovers
        assert again[1] and committed_ids(store) == {tasks[0].id}
    finally:
        holder.close()
        locked.close()
        store.close()


async def test_an_idempotent_replay_in_the_same_batch_returns_the_first_task(store: SqliteStore) -> None:
    commits = GroupCommit(store)
    first, replay = make_task(key="order-7", request_hash="h"), make_task(key="order-7", request_hash="h")
    (stored_a, created_a), (stored_b, created_b) = await asyncio.gather(commits.run(store.insert_task, first),
                                                                        commits.run(store.insert_task, replay))
    assert created_a and not created_b
    assert stored_b.id == stored_a.id == first.id
    assert committed_ids(store) == {first.id}
