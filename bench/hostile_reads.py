"""Another key's read latency while one key floods the server with uploads: the tight numbers that
`tests/acceptance/test_hostile_clients.py` checks only loosely (a test may not fail because the machine is slow).

    ./run bench hostile_reads [--reads 200] [--runs 1]

Starts `refvid serve --workers 0` with two keys and a loopback media server whose URL drips for 20 s. Key B
reads its task (`GET /v1/tasks/{id}`) and `/healthz` `--reads` times, 15 ms apart, first on the idle server
(baseline), then while key A (another process: tests/support/upload_flood.py) sends 48 slow URL uploads and
8 × 60 MiB base64 uploads. Prints p50 / p99 / max in ms per phase and the targets: GET p99 within 200 ms of
the baseline's, /healthz under 1 s, and ~40 of the 48 URL uploads refused at once (429).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the repo root, for tests.support

from tests.support.media_servers import MediaServer  # noqa: E402
from tests.support.servers import KEY, Server, env_for  # noqa: E402
from tests.support.upload_flood import read_latencies  # noqa: E402

KEY_B = "bench-key-b"
CREATE = {"model": "seedance-2.0-fast-reference-to-video", "prompt": "@Image1", "resolution": "480p",
          "duration": 4, "image_urls": ["http://example.com/a.png"]}


def ms(values: list[float], q: float) -> float:
    return 1000 * values[min(len(values) - 1, int(q * len(values)))]


@dataclass
class Run:
    """Sorted seconds of key B's reads: (GETs, /healthz) before and during the flood; the flood's statuses."""

    baseline: tuple[list[float], list[float]]
    flood: tuple[list[float], list[float]]
    statuses: list[int]


def one_run(reads: int) -> Run:
    media = MediaServer().start()
    slow = media.add_drip("/slow.png", interval_s=0.5, max_s=20.0)
    env = env_for(REFVID_WORKERS="0", REFVID_RATE_LIMIT_PER_MINUTE="0", REFVID_API_KEYS=f"{KEY},{KEY_B}")
    with tempfile.TemporaryDirectory() as folder:
        running = Server(Path(folder) / "data", env).start()
        try:
            with httpx.Client(base_url=running.url, headers={"Authorization": f"Bearer {KEY_B}"}, timeout=30) as b:
                task_id = b.post("/v1/videos/generations", json=CREATE).json()["id"]
                baseline = read_latencies(b, task_id, reads, pause_s=0.015)
                flood = subprocess.Popen([sys.executable, "-m", "tests.support.upload_flood", running.url, KEY, slow],
                                         stdout=subprocess.PIPE, text=True, cwd=ROOT)
                assert flood.stdout is not None and flood.stdout.readline().strip() == "started"
                time.sleep(0.5)
                flooded = read_latencies(b, task_id, reads, pause_s=0.015)
                statuses = json.loads(flood.communicate(timeout=120)[0].strip().splitlines()[-1])
        finally:
            running.stop()
            media.stop()
    return Run(baseline, flooded, statuses)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reads", type=int, default=200)
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()
    print("| run | phase | GET p50 ms | GET p99 ms | GET max ms | /healthz p50 ms | /healthz max ms | 429s of 48 |")
    print("|---|---|---|---|---|---|---|---|")
    verdicts = []
    for number in range(1, args.runs + 1):
        run = one_run(args.reads)
        for phase, (gets, health) in (("baseline", run.baseline), ("flood", run.flood)):
            refused = run.statuses.count(429) if phase == "flood" else "-"
            print(f"| {number} | {phase} | {statistics.median(gets) * 1000:.1f} | {ms(gets, 0.99):.1f} | "
                  f"{max(gets) * 1000:.1f} | {statistics.median(health) * 1000:.1f} | {max(health) * 1000:.1f} | "
                  f"{refused} |")
        verdicts.append(ms(run.flood[0], 0.99) < ms(run.baseline[0], 0.99) + 200 and max(run.flood[1]) < 1.0)
    print(f"\ntargets (GET p99 ≤ baseline p99 + 200 ms, /healthz max < 1 s) met in {sum(verdicts)} of "
          f"{len(verdicts)} runs")

if __name__ == "__main__":
    main()
