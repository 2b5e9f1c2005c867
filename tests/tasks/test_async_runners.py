"""The API's store runners (`open_async_runner`), on SQLite and on a real PostgreSQL: writes that reach the event
loop together share one transaction, each keeps its own outcome, and none answers before it is durable."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from refvid.errors import Conflict
from refvid.tasks.model import Task
from refvid.tasks.store import SqlStore, open_async_runner, open_store
from refvid.tasks.store.ops import AsyncRunner, Steps, writing
from refvid.tasks.store.tasks import get_task, insert_task, insert_task_steps
from tests.support.stores import make_task


@pytest.fixture
async def runner(store: SqlStore) -> AsyncIterator[AsyncRunner]:
    opened = open_async_runner(store)
    yield opened
    await opened.close()


def committed_ids(store_url: str) -> set[str]:
    """The task ids another connection (a fresh store) sees: only what was committed."""
    other = open_store(store_url)
    try:
        return {task.id for task in other.list_tasks("key_a", limit=100)[0]}
    finally:
        other.close()


@writing
def insert_then_refuse(task: Task) -> Steps[None]:
    yield from insert_task_steps(task)  # written inside the group, then undone
    raise Conflict("refused after writing", code="test_refusal")


async def test_writes_of_one_turn_all_commit_and_answer(runner: AsyncRunner, store_url: str) -> None:
    tasks = [make_task() for _ in range(40)]
    results = await asyncio.gather(*(runner.run(insert_task(task)) for task in tasks))
    assert [stored.id for stored, created in results] == [task.id for task in tasks]
    assert all(created for _, created in results)
    assert committed_ids(store_url) == {task.id for task in tasks}


async def test_nothing_answers_before_it_is_committed(runner: AsyncRunner, store_url: str) -> None:
    task = make_task()
    pending = asyncio.ensure_future(runner.run(insert_task(task)))
    await asyncio.sleep(0)  # queued; its group has not gone out yet
    assert not pending.done() and committed_ids(store_url) == set()
    await pending
    assert committed_ids(store_url) == {task.id}


async def test_a_write_that_fails_is_undone_alone(runner: AsyncRunner, store_url: str) -> None:
    before, doomed, after = make_task(), make_task(), make_task()
    outcomes = await asyncio.gather(runner.run(insert_task(before)), runner.run(insert_then_refuse(doomed)),
                                    runner.run(insert_task(after)), return_exceptions=True)
    assert isinstance(outcomes[1], Conflict) and outcomes[1].code == "test_refusal"
    assert committed_ids(store_url) == {before.id, after.id}
    assert await runner.run(get_task(doomed.id)) is None


async def test_an_idempotent_replay_in_the_same_group_returns_the_first_task(runner: AsyncRunner) -> None:
    first, replay = make_task(key="order-7", request_hash="h"), make_task(key="order-7", request_hash="h")
    (stored_a, created_a), (stored_b, created_b) = await asyncio.gather(runner.run(insert_task(first)),
                                                                        runner.run(insert_task(replay)))
    assert created_a and not created_b
    assert stored_b.id == stored_a.id == first.id
