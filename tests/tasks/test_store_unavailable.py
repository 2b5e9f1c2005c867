"""A PostgreSQL store whose server goes away: every query raises `StoreUnavailable` within about 1.5 s (not the
pool's 30 s), statements the server answered keep their own errors, and the store recovers by itself."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from refvid.errors import StoreUnavailable
from refvid.tasks.store import SqlStore, open_store
from tests.support.pg_server import PgServer, private_server
from tests.support.stores import make_task


@pytest.fixture
def pg() -> Iterator[PgServer]:
    with private_server() as server:
        yield server


def test_a_stopped_server_is_unavailable_at_once_and_the_store_recovers(pg: PgServer) -> None:
    store: SqlStore = open_store(pg.create_database())
    try:
        task = make_task()
        store.insert_task(task)
        pg.halt()
        for call in (lambda: store.get_task(task.id), lambda: store.claim_next("w", ["compositor"], 30),
                     lambda: store.insert_task(make_task())):
            started = time.monotonic()
            with pytest.raises(StoreUnavailable):
                call()
            assert time.monotonic() - started < 2.5
        time.sleep(8)  # long enough for the pool's own reconnection to have backed off to 4 s and more
        for _ in range(3):
            with pytest.raises(StoreUnavailable):
                store.get_task(task.id)
        pg.resume()
        deadline = time.monotonic() + 4  # the store answers within seconds, not after the pool's backoff
        while True:
            try:
                assert store.get_task(task.id) is not None
                break
            except StoreUnavailable:
                assert time.monotonic() < deadline, "the store did not recover"
                time.sleep(0.2)
    finally:
        store.close()


def test_errors_the_server_answered_are_not_outages() -> None:
    psycopg = pytest.importorskip("psycopg")
    from psycopg import errors as pg_errors
    from psycopg_pool import PoolTimeout

    from refvid.tasks.store.postgres import is_unreachable

    assert is_unreachable(PoolTimeout("no connection"))
    assert is_unreachable(psycopg.OperationalError("server closed the connection unexpectedly"))
    assert is_unreachable(pg_errors.AdminShutdown("terminating connection"))
    assert not is_unreachable(pg_errors.DeadlockDetected("deadlock"))
    assert not is_unreachable(pg_errors.UniqueViolation("duplicate key"))
