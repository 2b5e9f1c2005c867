"""SQLite under the API (`sqlite_writer.SqliteRunner`): while another process holds the write lock, reads answer
at once from the event loop, writes wait on the writer thread and commit after the release, and `health()` says
the store is locked; a lock that outlasts the busy timeout fails that group's writes with StoreUnavailable."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

import pytest

from refvid.errors import StoreUnavailable
from refvid.tasks.store import open_store, sqlite_writer
from refvid.tasks.store.sqlite import SqliteStore
from refvid.tasks.store.sqlite_writer import SqliteRunner
from refvid.tasks.store.tasks import get_task, insert_task
from tests.support.stores import make_task


async def test_a_held_write_lock_delays_writes_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sqlite_writer, "LOCKED_REPORT_S", 0.3)
    store = open_store(f"sqlite:///{tmp_path / 'refvid.db'}")
    assert isinstance(store, SqliteStore)
    runner = SqliteRunner(store)
    known = make_task()
    await runner.run(insert_task(known))
    holder = sqlite3.connect(store.path, isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")  # another process's write transaction
        waiting = [asyncio.ensure_future(runner.run(insert_task(make_task()))) for _ in range(5)]
        await asyncio.sleep(0.6)
        started = time.monotonic()
        assert (await runner.run(get_task(known.id))) == known  # a read does not wait
        assert time.monotonic() - started < 0.2
        assert not any(write.done() for write in waiting)
        assert runner.health()["write_lock_wait_s"] >= 0.3
        holder.execute("COMMIT")
        written = await asyncio.wait_for(asyncio.gather(*waiting), timeout=10)
        assert all(created for _, created in written)
        assert runner.health() == {}
        assert all(store.get_task(task.id) is not None for task, _ in written)
    finally:
        holder.close()
        await runner.close()
        store.close()


async def test_a_lock_past_the_busy_timeout_fails_its_group_and_the_runner_recovers(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'refvid.db'}"
    open_store(url).close()
    store = SqliteStore(url, busy_timeout_s=0.1)  # gives up on a held lock at once
    runner = SqliteRunner(store)
    holder = sqlite3.connect(store.path, isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")
        tasks = [make_task() for _ in range(3)]
        outcomes = await asyncio.gather(*(runner.run(insert_task(t)) for t in tasks), return_exceptions=True)
        assert all(isinstance(outcome, StoreUnavailable) for outcome in outcomes), outcomes
        holder.execute("ROLLBACK")
        assert (await runner.run(insert_task(tasks[0])))[1]  # the lock is free again
        assert store.get_task(tasks[0].id) is not None and store.get_task(tasks[1].id) is None
    finally:
        holder.close()
        await runner.close()
        store.close()


async def test_a_closed_runner_writes_again_when_used_again(tmp_path: Path) -> None:
    """An app whose lifespan ended may be started again (schemathesis does): `close` must not wedge writes."""
    store = open_store(f"sqlite:///{tmp_path / 'refvid.db'}")
    assert isinstance(store, SqliteStore)
    runner = SqliteRunner(store)
    try:
        await runner.run(insert_task(make_task()))
        await runner.close()
        task = make_task()
        assert (await asyncio.wait_for(runner.run(insert_task(task)), timeout=10))[1]
    finally:
        await runner.close()
        store.close()


async def test_the_writer_keeps_a_bounded_number_of_connections(tmp_path: Path) -> None:
    """The writer's connections (one on the loop, one on its thread) are made once per runner and kept, while
    the connections of threads close with them: many writes, some on the thread, and runner restarts leave
    the count where the first write left it; the store's close() closes them all."""
    store = open_store(f"sqlite:///{tmp_path / 'refvid.db'}")
    assert isinstance(store, SqliteStore)
    runner = SqliteRunner(store)
    holder = sqlite3.connect(store.path, isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")  # the next batch goes to the writer thread
        waiting = asyncio.ensure_future(runner.run(insert_task(make_task())))
        await asyncio.sleep(0.2)
        holder.execute("COMMIT")
        await asyncio.wait_for(waiting, timeout=10)
    finally:
        holder.close()
    after_first = store.open_connections()
    for _ in range(5):
        await asyncio.gather(*(runner.run(insert_task(make_task())) for _ in range(20)))
        await runner.close()  # the next write starts a new writer thread with the same connections
    assert store.open_connections() == after_first <= 3  # the loop's reads, the writer's two
    store.close()
    assert store.open_connections() == 0
