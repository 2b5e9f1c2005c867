"""The upstream engine's lag: time from a job completing on the upstream to the task showing `completed`, with
`refvid serve --workers 0` + one `refvid worker` in front of the fake vLLM-Omni server (tests/support/fakes).

    .venv/bin/python bench/upstream.py [--tasks 6] [--run-s 1.37] [--poll 0.25 1.0]

The fake runs in this process, so the job's end (its created time + run_s) and the moment a client polling the
API every 10 ms sees `completed` are read on one clock. The lag should be at most the poll interval plus the
download and the conform (decode + encode of the clip at the output size, measured here on the same clip); the
table prints all three. Text-to-video, 480p 16:9, 4 s, no audio, the upstream's clip 64×48 at 16 fps.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support import media_factory as mf
from tests.support.fakes.vllm_omni import FakeVllmOmni
from tests.support.servers import KEY
from tests.support.upstreams import Deployment, pool_toml, upstream

from refvid.contract import pixel_size
from refvid.media.conform import conform_video

TEXT = "seedance-2.0-text-to-video"
BODY = {"model": TEXT, "prompt": "a lighthouse at dusk", "resolution": "480p", "ratio": "16:9", "duration": 4,
        "generate_audio": False}


def conform_s(clip: Path, folder: Path) -> float:
    width, height = pixel_size("480p", "16:9")
    started = time.monotonic()
    conform_video(clip, folder / "c.mp4", folder / "c.jpg", width=width, height=height, fps=24, frames=96,
                  audio=False, fallback_audio=lambda: (None, 0))  # type: ignore[arg-type,return-value]
    return time.monotonic() - started


def copy_time(database: Path, task_id: str) -> float:
    """The worker's download + conform time of a task (its result's `extra.copy_s`, not on the wire)."""
    with sqlite3.connect(database) as db:
        (result,) = db.execute("SELECT result FROM tasks WHERE id = ?", (task_id,)).fetchone()
    return float(json.loads(result)["extra"]["copy_s"])


def lags(folder: Path, clip: Path, poll_s: float, tasks: int, run_s: float) -> list[tuple[float, float]]:
    """(lag, the worker's download + conform time) per task."""
    with FakeVllmOmni(clip.read_bytes(), served_model="H3") as fake:
        fake.plan(run_s=run_s)
        pool = pool_toml(upstream("omni", "vllm-omni", fake.url, model="H3", family="minimax-h3", serves=[TEXT],
                                  poll_interval_s=poll_s))
        deployment = Deployment(folder / f"poll-{poll_s}", pool).start()
        measured: list[tuple[float, float]] = []
        try:
            with httpx.Client(base_url=deployment.server.url, headers={"Authorization": f"Bearer {KEY}"},
                              timeout=30) as client:
                for seed in range(-1, tasks):  # one at a time (the lag of a job, not of a queue); -1 warms up
                    task_id = client.post("/v1/videos/generations", json={**BODY, "seed": seed + 1}).json()["id"]
                    while True:
                        task = client.get(f"/v1/tasks/{task_id}").json()
                        status = task["status"]
                        if status in ("completed", "failed", "cancelled"):
                            seen = time.monotonic()
                            break
                        time.sleep(0.01)
                    assert status == "completed", status
                    job = fake.creates[-1]
                    if seed >= 0:  # the first task of a worker also imports PyAV and OpenCV
                        copy_s = copy_time(deployment.folder / "data" / "refvid.db", task_id)
                        measured.append((seen - (job.created_at + job.run_s), copy_s))
        finally:
            deployment.stop()
        return measured


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tasks", type=int, default=6)
    parser.add_argument("--run-s", type=float, default=1.37)  # not a multiple of a poll interval
    parser.add_argument("--poll", type=float, nargs="+", default=[0.25, 1.0])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        clip = mf.make_video(folder / "clip.mp4", 64, 48, seconds=2.0, fps=16)
        conform = statistics.median(conform_s(clip, folder) for _ in range(3))
        print(f"conform of the upstream's clip to 864x496x96 frames: {conform:.2f} s (median of 3)")
        print("| poll interval | tasks | lag p50 | lag max | copy (download + conform) p50 / max "
              "| lag − copy, max (≤ poll interval?) |")
        print("|---|---|---|---|---|---|")
        for poll_s in args.poll:
            measured = lags(folder, clip, poll_s, args.tasks, args.run_s)
            lag = [m[0] for m in measured]
            copy = [m[1] for m in measured]
            detect = max(m[0] - m[1] for m in measured)
            print(f"| {poll_s:.2f} s | {len(measured)} | {statistics.median(lag):.2f} s | {max(lag):.2f} s | "
                  f"{statistics.median(copy):.2f} / {max(copy):.2f} s | {detect:.2f} s |")


if __name__ == "__main__":
    main()
