"""SQLite connections live and die with their threads: a lease thread per task and thread-pool threads that
idle out must not leave an open connection (three descriptors: the database, its -wal and -shm) behind."""

from __future__ import annotations

import contextlib
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from refvid.tasks.store.sqlite import SqliteStore


def _descriptors_on(folder: Path) -> int:
    """Open descriptors of this process on files in `folder`."""
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):  # closed meanwhile (the listing's own descriptor)
            count += os.readlink(f"/proc/self/fd/{fd}").startswith(str(folder))
    return count


def test_connections_close_with_their_threads(tmp_path: Path) -> None:
    store = SqliteStore(f"sqlite:///{tmp_path / 'refvid.db'}")
    store.migrate()
    for _ in range(5):  # warm up: every kind of descriptor SQLite keeps has been opened once
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(lambda _: store.count_by_status(), range(8)))
    baseline = _descriptors_on(tmp_path)

    for _ in range(300):  # one short-lived thread per task, as the worker's lease threads
        thread = threading.Thread(target=store.count_by_status)
        thread.start()
        thread.join()
    for _ in range(30):  # pools whose threads come and go
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(lambda _: store.count_by_status(), range(8)))

    assert store.open_connections() == 1  # this thread's (migrate)
    assert _descriptors_on(tmp_path) <= baseline + 1  # before the fix: 3 more per thread that ever used it
    store.close()
    assert store.open_connections() == 0 and _descriptors_on(tmp_path) == 0
