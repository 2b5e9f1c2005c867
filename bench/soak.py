"""Soak: thousands of short compositor tasks through one `refvid serve --workers N`; the server process's open
descriptors, threads, engine children and RSS every `--every` tasks, and the files kept once results expire.

    .venv/bin/python bench/soak.py [--tasks 2000] [--workers 2] [--database-url postgresql://… | --postgres]

The tasks are the cheapest the compositor renders (text-to-video, 480p, 4 s, no audio; tests/support/soak.py,
shared with the suite's 300-task soak test). Samples are taken between batches, with nothing in flight. The
results live `--result-ttl-s` (15 s) and are collected every 2 s, so the data dir should hold only the last
few batches' files at any time and nothing once the run has ended and the lifetime passed. Prints a Markdown
table (the `## Soak` section of bench/RESULTS.md). `--postgres` starts a throwaway PostgreSQL server
(tests/support/pg_server.py, fsync off) for the run.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the repo root, for tests.support
from tests.support.pg_server import private_server
from tests.support.soak import SoakServer, kept_files, sample


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--every", type=int, default=100, help="tasks between samples")
    parser.add_argument("--batch", type=int, default=10, help="tasks submitted at once")
    parser.add_argument("--result-ttl-s", type=int, default=15)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--postgres", action="store_true", help="a throwaway PostgreSQL server as the store")
    args = parser.parse_args()

    with contextlib.ExitStack() as stack:
        if args.postgres and not args.database_url:
            args.database_url = stack.enter_context(private_server()).create_database()
        soak(args, Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="refvid-soak-"))))


def soak(args: argparse.Namespace, folder: Path) -> None:
    data_dir = folder / "data"
    server = SoakServer(data_dir, workers=args.workers, result_ttl_s=args.result_ttl_s,
                        database_url=args.database_url)
    started = time.monotonic()
    print(f"refvid serve --workers {args.workers}, {'PostgreSQL' if args.database_url else 'SQLite'}, "
          f"{args.tasks} tasks, result lifetime {args.result_ttl_s} s\n")
    print("| tasks | elapsed s | descriptors | threads | engine children | RSS MiB | files kept |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    try:
        failed, done = 0, 0
        while done < args.tasks:
            batch = min(args.batch, args.tasks - done)
            failed += sum(task["status"] != "completed" for task in server.run_batch(batch))
            done += batch
            if done % args.every == 0 or done == args.tasks or done == args.batch:
                s = sample(server.proc.pid, done)
                print(f"| {done} | {time.monotonic() - started:.0f} | {s.descriptors} | {s.threads} | "
                      f"{s.children} | {s.rss_mib:.1f} | {len(kept_files(data_dir))} |", flush=True)
        deadline = time.monotonic() + args.result_ttl_s + 60
        while kept_files(data_dir) and time.monotonic() < deadline:
            time.sleep(1)
        collected = server.metric("refvid_collected_files_total", kind="result")
        print(f"\nnot completed: {failed}; files kept {args.result_ttl_s} s+ after the last task: "
              f"{len(kept_files(data_dir))}; result files collected: {collected:.0f}; backlog: "
              f"{server.metric('refvid_collection_backlog', kind='result'):.0f}")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
