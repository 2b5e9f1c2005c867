"""Garbage collection keeps up however much is due: 2,000 results past their lifetime (with thumbnails and
last frames), expired uploads and the folders of deleted tasks are all collected in a bounded number of
passes, on SQLite and on PostgreSQL, against a real blob store on disk. Rows are written through the store
directly: the test is about the collection, not about 2,000 renders."""

from __future__ import annotations

import json
import time
from pathlib import Path

from refvid.config import Settings
from refvid.storage.local import LocalBlobStore
from refvid.tasks.collection import GarbageCollector, collection_backlog
from refvid.tasks.maintenance import Maintenance
from refvid.tasks.store import SqlStore
from refvid.tasks.wakeup import LocalWaker
from tests.support.stores import make_task

TTL_S = 60.0
EXPIRED = 2000
PAGE_SIZE, MAX_PAGES = 100, 5  # 500 of each kind per pass: 2,000 results take 4 passes
FILES = {"1/video.mp4": b"v" * 300, "1/thumbnail.jpg": b"t" * 20, "last_frame.png": b"p" * 10}
FILE_BYTES = sum(len(data) for data in FILES.values())


def _completed(store: SqlStore, blobs: LocalBlobStore, count: int, finished_at: float) -> list[str]:
    """`count` completed tasks finished at `finished_at`, each with a video, a thumbnail and a last frame."""
    tasks = [make_task(at=finished_at - 10) for _ in range(count)]
    with store.transaction(write=True) as q:  # one transaction: 2,000 commits would dominate the test
        for task in tasks:
            result = {"video_key": f"results/{task.id}/1/video.mp4",
                      "thumbnail_key": f"results/{task.id}/1/thumbnail.jpg"}
            q("""INSERT INTO tasks (id, owner, model, engine, resolution, status, spec, created_at, updated_at,
                   finished_at, result) VALUES (?, ?, ?, ?, ?, 'completed', ?, ?, ?, ?, ?)""",
              (task.id, task.owner, task.spec.model, task.engine, task.spec.resolution,
               json.dumps(task.spec.to_dict()), task.created_at, finished_at, finished_at, json.dumps(result)))
    for task in tasks:
        for name, data in FILES.items():
            path = blobs.root / "results" / task.id / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
    return [task.id for task in tasks]


def test_two_thousand_expired_results_are_collected_in_bounded_passes(store: SqlStore, tmp_path: Path) -> None:
    blobs, now = LocalBlobStore(tmp_path / "blobs"), time.time()
    expired = _completed(store, blobs, EXPIRED, finished_at=now - TTL_S - 5)
    live = _completed(store, blobs, 3, finished_at=now)
    for i in range(3):  # folders of tasks deleted while their files stayed
        (blobs.root / "results" / f"task-gone-{i}" / "1").mkdir(parents=True)
        (blobs.root / "results" / f"task-gone-{i}" / "1" / "video.mp4").write_bytes(b"o" * 7)
    for i in range(700):  # uploads: 600 past their lifetime, 100 not
        expires_at = now - 1 if i < 600 else now + 3600
        store.insert_file({"id": f"file-{i:04d}", "owner": "key_a", "filename": "a.png",
                           "blob_key": f"uploads/file-{i:04d}/a.png", "size_bytes": 4, "created_at": now - 10,
                           "expires_at": expires_at})
        (blobs.root / "uploads" / f"file-{i:04d}").mkdir(parents=True)
        (blobs.root / "uploads" / f"file-{i:04d}" / "a.png").write_bytes(b"png!")
    assert collection_backlog(store, TTL_S, now) == {"result": EXPIRED, "upload": 600}

    collector = GarbageCollector(store, blobs, TTL_S, page_size=PAGE_SIZE, max_pages=MAX_PAGES, budget_s=1e9)
    passes = []
    while True:
        report = collector.run_pass(now)
        passes.append(report)
        assert len(passes) <= EXPIRED // (PAGE_SIZE * MAX_PAGES) + 1, "collection did not terminate"
        if report.complete:
            break
    assert [p.items["result"] for p in passes] == [500, 500, 500, 500, 0]
    assert sum(p.items["upload"] for p in passes) == 600
    assert sum(p.removed["result"].files for p in passes) == EXPIRED * len(FILES)
    assert sum(p.removed["result"].size_bytes for p in passes) == EXPIRED * FILE_BYTES
    assert sum(p.items["orphan"] for p in passes) == 3
    assert collection_backlog(store, TTL_S, now) == {"result": 0, "upload": 0}

    # None of the expired keeps a file or a URL; the live ones keep both; nothing else is left.
    left = sorted(p.name for p in (blobs.root / "results").iterdir())
    assert left == sorted(live)
    assert len(list((blobs.root / "uploads").iterdir())) == 100
    for task_id in expired[:: EXPIRED // 20]:
        task = store.get_task(task_id)
        assert task is not None and task.result == {"expired": True}
    for task_id in live:
        task = store.get_task(task_id)
        assert task is not None and task.result is not None and "video_key" in task.result

    # A pass once the backlog is gone finds nothing, and picks nothing collected again.
    quiet = collector.run_pass(now)
    assert quiet.complete and quiet.items == {"result": 0, "upload": 0, "orphan": 0}


def test_maintenance_follows_an_unfinished_pass_at_once_then_waits_for_the_interval(store: SqlStore,
                                                                                    tmp_path: Path) -> None:
    blobs, now = LocalBlobStore(tmp_path / "blobs"), time.time()
    _completed(store, blobs, 25, finished_at=now - TTL_S - 5)
    settings = Settings(data_dir=tmp_path, result_ttl_s=int(TTL_S), collect_interval_s=3600)
    waker = LocalWaker(tmp_path / "wake")
    try:
        maintenance = Maintenance(settings, store, blobs, waker)
        maintenance.collector = GarbageCollector(store, blobs, TTL_S, page_size=10, max_pages=1, budget_s=1e9)
        left = []
        for _ in range(3):  # 10, 10, then the last 5: each tick runs a pass while a backlog remains
            maintenance.run_once()
            left.append(collection_backlog(store, TTL_S)["result"])
        assert left == [15, 5, 0]
        _completed(store, blobs, 1, finished_at=now - TTL_S - 5)
        maintenance.run_once()  # the backlog is gone: the next pass waits for the interval (an hour here)
        assert collection_backlog(store, TTL_S)["result"] == 1
    finally:
        waker.close()
