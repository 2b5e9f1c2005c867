"""The `store_url`/`store` fixtures of the store tests: each test runs on a real SQLite file and on a real
PostgreSQL server (tests/support/pg_server.py), with a fresh database per test, so migrations run from
scratch every time."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from refvid.tasks.store import SqlStore, open_store
from tests.support.pg_server import PgServer


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'refvid.db'}"
    server: PgServer = request.getfixturevalue("pg_server")
    return server.create_database()


@pytest.fixture
def store(store_url: str) -> Iterator[SqlStore]:
    opened = open_store(store_url)
    yield opened
    opened.close()
