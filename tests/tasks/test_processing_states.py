"""`processing_states`: the saved engine state of each running task of an engine, which `GET /v1/models` counts
to show an upstream's jobs in flight fleet-wide (SQLite and PostgreSQL)."""

from __future__ import annotations

from refvid.tasks.store import SqlStore
from tests.support.stores import make_task


def test_only_processing_tasks_of_the_engine_are_read(store: SqlStore) -> None:
    store.migrate()
    for _ in range(3):
        store.insert_task(make_task(engine="upstream"))
    store.insert_task(make_task(engine="compositor"))
    first = store.claim_next("w", ["upstream"], 30)
    second = store.claim_next("w", ["upstream"], 30)
    assert first is not None and second is not None
    assert store.save_engine_state(first.task.id, first.token, {"upstream": "a", "upstream_job_id": "j1"})
    assert store.claim_next("w", ["compositor"], 30) is not None
    states = store.processing_states("upstream")
    assert sorted(states, key=len) == [{}, {"upstream": "a", "upstream_job_id": "j1"}]
