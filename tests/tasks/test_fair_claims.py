"""Fair claiming across keys (docs/operations.md "Fair claiming"), part of the store contract: on SQLite and
PostgreSQL, one key's batch never starves another key's single task, tasks of one key still go oldest first,
and every task still goes to exactly one worker."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from refvid.tasks.model import TaskStatus
from refvid.tasks.store import SqlStore
from tests.support.stores import ENGINE, make_task


def _claim_and_finish(store: SqlStore, worker: str = "w1") -> str | None:
    claim = store.claim_next(worker, [ENGINE], 30)
    if claim is None:
        return None
    assert store.finish(claim.task.id, claim.token, TaskStatus.COMPLETED, result={"by": worker})
    return str(claim.task.owner)


def test_one_worker_serves_a_late_single_task_within_two_claims(store: SqlStore) -> None:
    batch = [make_task(owner="key_a", at=100.0 + i) for i in range(60)]
    for task in batch:
        store.insert_task(task)
    assert _claim_and_finish(store) == "key_a"  # key A's batch is being worked on…
    single = make_task(owner="key_b", at=500.0)  # …when key B submits one task
    store.insert_task(single)
    owners = [_claim_and_finish(store), _claim_and_finish(store)]
    assert "key_b" in owners
    assert store.get_task(single.id).status == TaskStatus.COMPLETED  # type: ignore[union-attr]


def test_owners_take_turns_and_each_owner_stays_oldest_first(store: SqlStore) -> None:
    a = [make_task(owner="key_a", at=10.0 + i) for i in range(4)]
    b = [make_task(owner="key_b", at=20.0 + i) for i in range(2)]
    for task in (*a, *b):
        store.insert_task(task)
    order = []
    while (claim := store.claim_next("w1", [ENGINE], 30)) is not None:
        order.append(claim.task.id)
        assert store.finish(claim.task.id, claim.token, TaskStatus.COMPLETED, result={})
    assert order[:4] in ([a[0].id, b[0].id, a[1].id, b[1].id], [b[0].id, a[0].id, b[1].id, a[1].id])
    assert order[4:] == [a[2].id, a[3].id]
    assert [i for i in order if i in {t.id for t in a}] == [t.id for t in a]


def test_an_owner_with_fewer_running_tasks_goes_first(store: SqlStore) -> None:
    for i in range(3):
        store.insert_task(make_task(owner="key_a", at=float(i)))
    late = make_task(owner="key_b", at=50.0)
    store.insert_task(late)
    first = store.claim_next("w1", [ENGINE], 30)
    second = store.claim_next("w2", [ENGINE], 30)  # key A has one running, key B none
    assert first is not None and second is not None
    assert first.task.owner == "key_a" and second.task.id == late.id


def test_fair_claims_still_hand_each_task_to_exactly_one_worker(store: SqlStore) -> None:
    ids = set()
    for i in range(30):
        task = make_task(owner=f"key_{i % 3}", at=float(i))
        store.insert_task(task)
        ids.add(task.id)

    def drain(worker: int) -> list[str]:
        got = []
        while (claim := store.claim_next(f"w{worker}", [ENGINE], 30)) is not None:
            got.append(claim.task.id)
            assert store.finish(claim.task.id, claim.token, TaskStatus.COMPLETED, result={})
        return got

    with ThreadPoolExecutor(6) as pool:
        claimed = [task_id for got in pool.map(drain, range(6)) for task_id in got]
    assert sorted(claimed) == sorted(ids)
