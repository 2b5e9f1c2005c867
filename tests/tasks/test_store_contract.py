"""THE store contract: every test runs on a real SQLite file and on a real PostgreSQL server.

The PostgreSQL server is started once per session from the machine's `initdb`/`pg_ctl` (tests/support/pg_server.py);
each test gets a fresh database, so migrations run from scratch every time.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from refvid.errors import Conflict
from refvid.runtime import open_waker
from refvid.tasks.migrations import LATEST_VERSION
from refvid.tasks.model import TaskStatus
from refvid.tasks.store import SqlStore, open_store
from tests.support.pg_server import PgServer
from tests.support.stores import ENGINE, make_task


# -- schema ----------------------------------------------------------------------------------------
def test_migrate_is_idempotent_and_safe_when_many_processes_start_at_once(store_url: str) -> None:
    def start() -> int:
        opened = open_store(store_url)  # migrates
        try:
            return opened.migrate()
        finally:
            opened.close()

    with ThreadPoolExecutor(6) as pool:
        versions = list(pool.map(lambda _: start(), range(6)))
    assert versions == [LATEST_VERSION] * 6
    opened = open_store(store_url)
    with opened.transaction(write=False) as q:
        rows = q("SELECT version FROM schema_version ORDER BY version", ())
    opened.close()
    assert [r["version"] for r in rows] == list(range(1, LATEST_VERSION + 1))


# -- API side --------------------------------------------------------------------------------------
def test_insert_and_get_round_trip(store: SqlStore) -> None:
    task = make_task(key="k1", request_hash="h1")
    stored, created = store.insert_task(task)
    assert created and stored == task
    got = store.get_task(task.id)
    assert got == task
    assert store.get_task("task-unified-0-missing0") is None


def test_idempotency_key_returns_the_existing_task(store: SqlStore) -> None:
    first, created = store.insert_task(make_task(key="same", request_hash="h"))
    again, created_again = store.insert_task(make_task(key="same", request_hash="h"))
    other_owner, created_other = store.insert_task(make_task(owner="key_b", key="same"))
    assert created and not created_again and created_other
    assert again.id == first.id and other_owner.id != first.id


def test_concurrent_submissions_with_one_idempotency_key_make_one_task(store: SqlStore) -> None:
    barrier = threading.Barrier(8)

    def submit(_: int) -> tuple[str, bool]:
        barrier.wait()
        task, created = store.insert_task(make_task(key="race", request_hash="h"))
        return task.id, created

    with ThreadPoolExecutor(8) as pool:
        outcomes = list(pool.map(submit, range(8)))
    assert len({task_id for task_id, _ in outcomes}) == 1
    assert sum(created for _, created in outcomes) == 1


def test_list_is_newest_first_or_oldest_first_paged_and_filtered(store: SqlStore) -> None:
    base = time.time()
    tasks = [make_task(at=base + i) for i in range(5)]
    tasks.append(make_task(at=base + 10, model="seedance-2.0-fast-reference-to-video"))
    tasks.append(make_task(owner="key_b", at=base + 20))
    for task in tasks:
        store.insert_task(task)
    page, more = store.list_tasks("key_a", limit=4)
    assert [t.id for t in page] == [tasks[5].id, tasks[4].id, tasks[3].id, tasks[2].id] and more
    rest, more = store.list_tasks("key_a", limit=4, after=page[-1])
    assert [t.id for t in rest] == [tasks[1].id, tasks[0].id] and not more
    oldest, more = store.list_tasks("key_a", limit=4, oldest_first=True)  # the /v1/videos list's order=asc
    assert [t.id for t in oldest] == [t.id for t in tasks[:4]] and more
    newer, more = store.list_tasks("key_a", limit=4, after=oldest[-1], oldest_first=True)
    assert [t.id for t in newer] == [tasks[4].id, tasks[5].id] and not more
    fast, _ = store.list_tasks("key_a", model="seedance-2.0-fast-reference-to-video")
    assert [t.id for t in fast] == [tasks[5].id]
    store.request_cancel(tasks[0].id)
    cancelled, _ = store.list_tasks("key_a", status="cancelled")
    assert [t.id for t in cancelled] == [tasks[0].id]


def test_cancel_pending_processing_and_terminal(store: SqlStore) -> None:
    pending, running = make_task(at=2.0), make_task(at=1.0)
    store.insert_task(pending)
    store.insert_task(running)
    claim = store.claim_next("w1", [ENGINE], 30)
    assert claim is not None and claim.task.id == running.id
    assert store.request_cancel(pending.id).status == TaskStatus.CANCELLED
    asked = store.request_cancel(running.id)
    assert asked.status == TaskStatus.PROCESSING and asked.cancel_requested
    assert store.cancel_requested(running.id)
    assert store.heartbeat(running.id, claim.token, 50, 30).cancel_requested
    with pytest.raises(Conflict) as info:
        store.request_cancel(pending.id)
    assert info.value.code == "task_not_cancellable"


def test_a_cancel_requested_before_completion_is_recorded_wins(store: SqlStore) -> None:
    task = make_task()
    store.insert_task(task)
    claim = store.claim_next("w1", [ENGINE], 30)
    assert claim is not None
    store.request_cancel(task.id)
    assert not store.finish(task.id, claim.token, TaskStatus.COMPLETED, result={"video_key": "x"})
    final = store.get_task(task.id)
    assert final is not None and final.status == TaskStatus.CANCELLED and final.result is None


def test_delete_only_terminal_tasks(store: SqlStore) -> None:
    task = make_task()
    store.insert_task(task)
    with pytest.raises(Conflict):
        store.delete_task(task.id)
    store.request_cancel(task.id)
    assert store.delete_task(task.id).id == task.id
    assert store.get_task(task.id) is None


# -- worker side -----------------------------------------------------------------------------------
def test_claim_takes_the_oldest_task_of_the_workers_engines(store: SqlStore) -> None:
    assert store.claim_next("w1", [ENGINE], 30) is None
    old, new, other = make_task(at=1.0), make_task(at=2.0), make_task(engine="diffusion", at=0.5)
    for task in (new, old, other):
        store.insert_task(task)
    assert store.claim_next("w1", [], 30) is None
    claim = store.claim_next("w1", [ENGINE], 30)
    assert claim is not None and claim.task.id == old.id
    t = claim.task
    assert t.status == TaskStatus.PROCESSING and t.attempts == 1 and t.worker_id == "w1"
    assert t.lease_token == claim.token and t.lease_expires_at is not None and t.started_at is not None
    second = store.claim_next("w2", [ENGINE, "diffusion"], 30)
    assert second is not None and second.task.id == other.id


def test_concurrent_claims_hand_each_task_to_exactly_one_worker(store: SqlStore) -> None:
    ids = set()
    for i in range(40):
        task = make_task(at=float(i))
        store.insert_task(task)
        ids.add(task.id)

    def drain(worker: int) -> list[str]:
        got = []
        while (claim := store.claim_next(f"w{worker}", [ENGINE], 30)) is not None:
            got.append(claim.task.id)
            assert store.finish(claim.task.id, claim.token, TaskStatus.COMPLETED, result={"w": worker})
        return got

    with ThreadPoolExecutor(8) as pool:
        claimed = [task_id for got in pool.map(drain, range(8)) for task_id in got]
    assert sorted(claimed) == sorted(ids)
    assert all(store.get_task(i).status == TaskStatus.COMPLETED for i in ids)  # type: ignore[union-attr]


def test_heartbeat_renews_the_lease_and_keeps_progress_monotonic(store: SqlStore) -> None:
    store.insert_task(make_task())
    claim = store.claim_next("w1", [ENGINE], 1.0)
    assert claim is not None
    first_expiry = claim.task.lease_expires_at or 0
    time.sleep(0.02)
    assert store.heartbeat(claim.task.id, claim.token, 40, 30).ok
    assert not store.heartbeat(claim.task.id, claim.token, 20, 30, cancellable=False).cancel_requested
    assert store.heartbeat(claim.task.id, claim.token, 250, 30).ok
    task = store.get_task(claim.task.id)
    assert task is not None and task.progress == 99 and (task.lease_expires_at or 0) > first_expiry + 10
    assert not store.heartbeat(claim.task.id, "not-the-token", 50, 30).ok
    assert store.save_engine_state(claim.task.id, claim.token, {"seed": 7})
    assert not store.save_engine_state(claim.task.id, "stale", {"seed": 8})
    assert store.get_task(claim.task.id).engine_state == {"seed": 7}  # type: ignore[union-attr]


def test_fencing_a_reaped_worker_can_never_record_a_result(store: SqlStore) -> None:
    task = make_task()
    store.insert_task(task)
    stale = store.claim_next("w1", [ENGINE], 0.05)
    assert stale is not None
    time.sleep(0.1)
    [reaped] = store.reap_expired(max_attempts=3)
    assert reaped.id == task.id and reaped.status == TaskStatus.PENDING and reaped.attempts == 1
    fresh = store.claim_next("w2", [ENGINE], 30)
    assert fresh is not None and fresh.task.attempts == 2 and fresh.token != stale.token
    assert not store.heartbeat(task.id, stale.token, 80, 30).ok
    assert not store.finish(task.id, stale.token, TaskStatus.COMPLETED, result={"by": "w1"})
    assert not store.requeue(task.id, stale.token) and not store.release(task.id, stale.token)
    assert store.finish(task.id, fresh.token, TaskStatus.COMPLETED, result={"by": "w2"}, run_s_per_output_s=0.5)
    assert not store.finish(task.id, fresh.token, TaskStatus.FAILED, error={"code": "x"})
    done = store.get_task(task.id)
    assert done is not None and done.status == TaskStatus.COMPLETED and done.result == {"by": "w2"}
    assert done.progress == 100 and done.lease_token is None and done.finished_at is not None
    assert store.recent_speeds(ENGINE, "480p") == [0.5]


def test_release_and_requeue(store: SqlStore) -> None:
    task = make_task()
    store.insert_task(task)
    claim = store.claim_next("w1", [ENGINE], 30)
    assert claim is not None and store.release(task.id, claim.token)
    released = store.get_task(task.id)
    assert released is not None and released.status == TaskStatus.PENDING and released.attempts == 0
    claim = store.claim_next("w1", [ENGINE], 30)
    assert claim is not None and store.requeue(task.id, claim.token)
    assert store.get_task(task.id).attempts == 1  # type: ignore[union-attr]
    claim = store.claim_next("w1", [ENGINE], 30)
    assert claim is not None
    store.request_cancel(task.id)
    assert store.release(task.id, claim.token)  # a cancel requested meanwhile wins
    assert store.get_task(task.id).status == TaskStatus.CANCELLED  # type: ignore[union-attr]


def test_reaper_retries_then_fails_with_worker_lost_and_honours_cancels(store: SqlStore) -> None:
    retried, doomed, cancelled = make_task(at=1.0), make_task(at=2.0), make_task(at=3.0)
    for task in (retried, doomed, cancelled):
        store.insert_task(task)
    for _ in range(3):
        assert store.claim_next("w1", [ENGINE], 30) is not None
    with store.transaction(write=True) as q:  # the doomed task already used its attempts
        q("UPDATE tasks SET attempts = 3 WHERE id = ?", (doomed.id,))
    store.request_cancel(cancelled.id)
    assert store.reap_expired(max_attempts=3) == []  # nothing has expired yet
    with store.transaction(write=True) as q:  # the worker went silent long ago
        q("UPDATE tasks SET lease_expires_at = ?", (time.time() - 1,))
    outcome = {t.id: t for t in store.reap_expired(max_attempts=3)}
    assert outcome[retried.id].status == TaskStatus.PENDING
    assert outcome[doomed.id].status == TaskStatus.FAILED
    assert (outcome[doomed.id].error or {})["code"] == "worker_lost"
    assert outcome[cancelled.id].status == TaskStatus.CANCELLED
    assert store.reap_expired(max_attempts=3) == []


def test_pending_tasks_expire_after_the_deadline(store: SqlStore) -> None:
    old, fresh = make_task(at=time.time() - 100), make_task()
    store.insert_task(old)
    store.insert_task(fresh)
    [expired] = store.expire_pending(deadline_s=50)
    assert expired.id == old.id and expired.status == TaskStatus.FAILED
    assert (expired.error or {})["code"] == "expired"


# -- estimates, maintenance, keys, workers, files --------------------------------------------------
def test_queue_position_counts_and_result_expiry(store: SqlStore) -> None:
    tasks = [make_task(at=float(i)) for i in range(3)]
    for task in tasks:
        store.insert_task(task)
    assert store.pending_created_at(ENGINE) == [0.0, 1.0, 2.0]
    counts = {(r["status"], r["model"]): r["n"] for r in store.count_by_status()}
    assert counts == {("pending", "seedance-2.0-reference-to-video"): 3}
    claim = store.claim_next("w1", [ENGINE], 30)
    assert claim is not None and store.finish(claim.task.id, claim.token, TaskStatus.COMPLETED,
                                              result={"video_key": "k"})
    assert store.uncollected_before(time.time() - 60, None, 10) == []
    [(_, old_id)] = store.uncollected_before(time.time() + 1, None, 10)
    assert store.count_uncollected_before(time.time() + 1) == 1
    store.mark_collected([old_id], time.time())
    assert store.get_task(old_id).result == {"expired": True}  # type: ignore[union-attr]
    assert store.uncollected_before(time.time() + 1, None, 10) == []
    assert store.count_uncollected_before(time.time() + 1) == 0


def test_meta_keys_and_workers(store: SqlStore) -> None:
    assert store.meta_get_or_set("secret", lambda: "first") == "first"
    assert store.meta_get_or_set("secret", lambda: "second") == "first"
    store.add_api_key("key_1", "hash1", label="ci")
    assert store.api_key_hashes() == {"hash1": "key_1"}
    store.touch_worker("w1", [ENGINE, "relay"], "host-a")
    store.touch_worker("w1", [ENGINE], "host-a")
    store.touch_worker("w2", ["relay"], "host-b")
    assert store.live_workers(ENGINE, within_s=30) == 1 and store.live_workers("relay", within_s=30) == 1
    store.remove_worker("w1")
    assert store.live_workers(ENGINE, within_s=30) == 0


def test_uploaded_files(store: SqlStore) -> None:
    now = time.time()
    row: dict[str, Any] = {"id": "file-1", "owner": "key_a", "filename": "a.png", "blob_key": "uploads/file-1/a.png",
                           "size_bytes": 10, "content_type": "image/png", "created_at": now, "expires_at": now + 5}
    store.insert_file(row)
    assert store.get_file("file-1") == row
    assert store.expired_files(now, 10) == [] and store.count_expired_files(now) == 0
    assert [r["id"] for r in store.expired_files(now + 10, 10)] == ["file-1"]
    assert store.count_expired_files(now + 10) == 1
    store.delete_files(["file-1"])
    assert store.get_file("file-1") is None


# -- wake-ups --------------------------------------------------------------------------------------
def test_an_idle_worker_in_another_process_is_woken_for_a_new_task(store_url: str, tmp_path: Path) -> None:
    """Two store instances stand for two processes (separate connections and wakers)."""
    api, worker = open_store(store_url), open_store(store_url)
    api_waker, worker_waker = open_waker(api, tmp_path / "wake", True), open_waker(worker, tmp_path / "wake", True)
    latencies: list[float] = []
    stop = threading.Event()

    def worker_loop() -> None:
        while not stop.is_set():
            generation = worker_waker.generation()
            claim = worker.claim_next("w1", [ENGINE], 30)
            if claim is None:
                worker_waker.wait_after(generation, 5.0)
                continue
            latencies.append((claim.task.started_at or 0) - claim.task.created_at)
            worker.finish(claim.task.id, claim.token, TaskStatus.COMPLETED, result={})

    thread = threading.Thread(target=worker_loop, daemon=True)
    thread.start()
    try:
        for _ in range(5):
            time.sleep(0.3)  # the worker is idle, blocked in wait_after
            api.insert_task(make_task())
            api_waker.notify()
        deadline = time.monotonic() + 5
        while len(latencies) < 5 and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        stop.set()
        worker_waker.notify()
        thread.join(5)
        for closeable in (api_waker, worker_waker, api, worker):
            closeable.close()
    assert len(latencies) == 5
    # Woken, not polled: without the wake-up each claim waits out the 5 s wait_after; a tenth of it leaves a
    # loaded machine room (the wake-up itself takes milliseconds: bench/queue.py).
    assert max(latencies) < 5.0 / 10, latencies


def test_postgres_waker_reconnects_after_losing_its_listen_connection(pg_server: PgServer) -> None:
    psycopg = pytest.importorskip("psycopg")
    url = pg_server.create_database()
    store, sender = open_store(url), open_store(url)
    waker = store.open_waker()  # type: ignore[attr-defined]
    listener_sql = ("SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                    "AND query LIKE 'LISTEN%'")
    try:
        assert waker.wait_listening()
        with psycopg.connect(url, autocommit=True) as admin:
            [(old_pid,)] = admin.execute(listener_sql).fetchall()
            admin.execute("SELECT pg_terminate_backend(%s)", (old_pid,))
            deadline = time.monotonic() + 10
            while [(old_pid,)] == (pids := admin.execute(listener_sql).fetchall()) or not pids:
                assert time.monotonic() < deadline, "the waker did not LISTEN again"
                time.sleep(0.05)
        time.sleep(0.1)
        generation = waker.generation()
        sender.notify_waiters()  # type: ignore[attr-defined]
        assert waker.wait_after(generation, 2.0)
    finally:
        waker.close()
        store.close()
        sender.close()
