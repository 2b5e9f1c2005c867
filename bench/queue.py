"""Queue benchmark: how fast the tasks table hands out work, on SQLite and PostgreSQL.

    python bench/queue.py                       # SQLite + a throwaway PostgreSQL (needs initdb/pg_ctl)
    python bench/queue.py --database-url postgresql://user@host/db --workers 1,4,16

What is measured is the queue alone, with store-level claim loops: each worker is a separate process
running exactly the loop of `refvid.worker.supervisor.Worker` (read the waker's generation, `claim_next`,
and on an empty queue `wait_after`), with a store and waker of its own, and it records the outcome at
once (`finish`). No engine runs, because an engine — even a no-op one behind `register_engine` — would
add a child-process round trip and reference fetching per task and measure those instead of the queue;
and a plugin registered in the bench process would not exist in the workers' spawned engine children.

Two numbers per backend and worker count:
- dispatched/s: a backlog of `--tasks` pending tasks is drained by the workers (claim + finish per task);
  tasks divided by the time from the first claim to the last finish.
- claim latency: with every worker idle (blocked in `wait_after`), tasks are submitted one at a time, as
  the API does (insert, then `notify`); latency = `started_at - created_at` (submit → processing),
  p50 / p95 / max over `--samples` tasks. This is the wake-up path: LISTEN/NOTIFY on PostgreSQL, Unix
  datagrams on SQLite.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

# A script run from bench/ (this one, or a sibling such as bench/load.py) has bench/ first on sys.path,
# so `import queue` anywhere in it would find this file instead of the standard library's module. Take
# bench/ off the path; and if this file was just imported *as* `queue`, hand the importer the real one
# (the import system returns whatever sys.modules holds once the module body has run).
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
if __name__ == "queue":
    del sys.modules["queue"]
    sys.modules["queue"] = importlib.import_module("queue")
sys.path.insert(0, str(_HERE.parent))  # the repo root, for tests.support.pg_server

import argparse  # noqa: E402
import multiprocessing as mp  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from multiprocessing.synchronize import Event as MpEvent  # noqa: E402

from refvid.runtime import open_waker  # noqa: E402
from refvid.tasks.model import Task, TaskSpec, TaskStatus, new_task_id  # noqa: E402
from refvid.tasks.store import SqlStore, open_store  # noqa: E402
from refvid.tasks.wakeup import Waker  # noqa: E402

ENGINE = "noop"
SPEC = TaskSpec(model="seedance-2.0-reference-to-video", prompt="bench", resolution="480p")


def worker_main(url: str, wake_dir: str, worker_id: str, ready: MpEvent, go: MpEvent, stop: MpEvent) -> None:
    """The supervisor's slot loop, minus the engine."""
    store = open_store(url, pool_size=2)
    waker = open_waker(store, Path(wake_dir), True)
    ready.set()
    go.wait(120)  # every worker is up before the first claim: the drain measures all of them
    while not stop.is_set():
        generation = waker.generation()
        claim = store.claim_next(worker_id, [ENGINE], 60)
        if claim is None:
            waker.wait_after(generation, 1.0)
            continue
        store.finish(claim.task.id, claim.token, TaskStatus.COMPLETED, result={})
    waker.close()
    store.close()


@dataclass
class Row:
    backend: str
    workers: int
    dispatched_per_s: float
    p50_ms: float
    p95_ms: float
    max_ms: float


def submit(store: SqlStore, waker: Waker | None) -> str:
    task = Task(id=new_task_id(), owner="bench", spec=SPEC, engine=ENGINE)
    store.insert_task(task)
    if waker is not None:
        waker.notify()
    return task.id


def wait_drained(store: SqlStore, timeout_s: float = 300) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        with store.transaction(write=False) as q:
            if not q("SELECT id FROM tasks WHERE status <> 'completed' LIMIT 1", ()):
                return
        if time.monotonic() > deadline:
            raise TimeoutError("the workers did not drain the queue")
        time.sleep(0.05)


def run_one(backend: str, url: str, n_workers: int, n_tasks: int, n_samples: int, wake_dir: Path) -> Row:
    store = open_store(url)
    with store.transaction(write=True) as q:
        q("DELETE FROM tasks", ())
    # 1. A backlog, then the workers start: the drain rate.
    for _ in range(n_tasks):
        submit(store, None)
    ctx = mp.get_context("spawn")
    stop, go = ctx.Event(), ctx.Event()
    readies = [ctx.Event() for _ in range(n_workers)]
    procs = [ctx.Process(target=worker_main, args=(url, str(wake_dir), f"bench-{i}", readies[i], go, stop))
             for i in range(n_workers)]
    for proc in procs:
        proc.start()
    try:
        waker = open_waker(store, wake_dir, True)
        for ready in readies:
            ready.wait(60)
        go.set()
        wait_drained(store)
        with store.transaction(write=False) as q:
            span = q("SELECT MIN(started_at) AS a, MAX(finished_at) AS b FROM tasks", ())[0]
            twice = q("SELECT COUNT(*) AS n FROM tasks WHERE attempts <> 1", ())[0]["n"]
        assert twice == 0, f"{twice} tasks were claimed more than once"
        dispatched_per_s = n_tasks / max(1e-9, float(span["b"]) - float(span["a"]))
        # 2. Idle workers, one task at a time: submit → processing.
        latencies_ms = []
        for _ in range(n_samples):
            time.sleep(0.05)  # let every worker go back to sleep in wait_after
            task_id = submit(store, waker)
            deadline = time.monotonic() + 10
            while (task := store.get_task(task_id)) is not None and task.started_at is None:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{task_id} was never claimed")
                time.sleep(0.001)
            assert task is not None and task.started_at is not None
            latencies_ms.append((task.started_at - task.created_at) * 1000)
        waker.close()
    finally:
        stop.set()
        go.set()
        wake = open_waker(store, wake_dir, True)
        wake.notify()
        for proc in procs:
            proc.join(10)
        wake.close()
        store.close()
    quantiles = statistics.quantiles(latencies_ms, n=20, method="inclusive")
    return Row(backend, n_workers, dispatched_per_s, statistics.median(latencies_ms), quantiles[18],
               max(latencies_ms))


def table(rows: list[Row]) -> str:
    lines = ["| backend | workers | dispatched/s | claim latency p50 ms | p95 ms | max ms |",
             "|---|---:|---:|---:|---:|---:|"]
    lines += [f"| {r.backend} | {r.workers} | {r.dispatched_per_s:,.0f} | {r.p50_ms:.1f} | {r.p95_ms:.1f} | "
              f"{r.max_ms:.1f} |" for r in rows]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backends", default="sqlite,postgres", help="comma-separated: sqlite, postgres")
    parser.add_argument("--workers", default="1,4,16", help="comma-separated worker process counts")
    parser.add_argument("--tasks", type=int, default=1000, help="backlog drained per configuration")
    parser.add_argument("--samples", type=int, default=40, help="latency samples per configuration")
    parser.add_argument("--database-url", help="PostgreSQL to use (its tasks table is emptied!); "
                        "default: a throwaway server from the machine's initdb/pg_ctl")
    args = parser.parse_args()
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="refvid-bench-") as tmp:
        for backend in args.backends.split(","):
            server = None
            if backend == "postgres" and not args.database_url:
                from tests.support.pg_server import start_server

                server = start_server()
            for n_workers in (int(n) for n in args.workers.split(",")):
                folder = Path(tmp) / f"{backend}-{n_workers}"
                folder.mkdir()
                if backend == "sqlite":
                    url = f"sqlite:///{folder / 'bench.db'}"
                else:
                    url = args.database_url or server.create_database()  # type: ignore[union-attr]
                rows.append(run_one(backend, url, n_workers, args.tasks, args.samples, folder / "wake"))
                print(table(rows[-1:]).splitlines()[-1], flush=True)
            if server is not None:
                from tests.support.pg_server import stop_server

                stop_server()
    print()
    print(table(rows))


if __name__ == "__main__":
    main()
