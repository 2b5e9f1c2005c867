"""Big request bodies from one key against another key's polls, on `refvid serve` (issue 27).

    .venv/bin/python -P bench/big_bodies.py [--rounds 2]

Starts `refvid serve --workers 0` with two keys on a free loopback port. Key B polls one task every 10 ms:
600 polls alone (the baseline), then while key A sends 8 concurrent creates of 65 MiB (over the 64 MiB limit:
refused by Content-Length before they are read) and 8 of 60 MiB (read, parsed, refused 422: a data: URL past
the image limit). Key A runs in its own process at `nice 19`, as clients elsewhere would. Prints B's poll
p50/p99/max for each phase and the p99 ratio to the baseline, and for the 60 MiB phase also to the 65 MiB
phase: that flood loads the machine as much (A sends as many bytes) but costs the server little, so on a
shared machine the ratio between them tells the server's own share apart from the machine's load."""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time

import httpx

KEYS = ("bench-key-a", "bench-key-b")
MIB = 1024 * 1024
BODY = {"model": "seedance-2.0-fast-reference-to-video", "prompt": "@Image1", "resolution": "480p", "duration": 4}


def flood(url: str, mib: int) -> list[int]:
    """What key A runs (in its own process): 8 concurrent creates of `mib` MiB; their statuses."""
    body = json.dumps({**BODY, "image_urls": ["data:image/png;base64," + "A" * (mib * MIB)]}).encode()
    headers = {"Authorization": f"Bearer {KEYS[0]}", "Content-Type": "application/json"}
    statuses: list[int] = []
    threads = [threading.Thread(target=lambda: statuses.append(
        httpx.post(f"{url}/v1/videos/generations", content=body, headers=headers, timeout=300).status_code))
        for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return statuses


def percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)
    return " | ".join(f"{1000 * ordered[int(len(ordered) * q)]:.1f}" for q in (0.5, 0.99)) + \
        f" | {1000 * ordered[-1]:.0f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--baseline-polls", type=int, default=600,
                        help="polls alone per round (p99 of 300 is the 3rd slowest: one hiccup moves it)")
    args = parser.parse_args()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "REFVID_API_KEYS": ",".join(KEYS), "REFVID_WORKERS": "0"}
    with tempfile.TemporaryDirectory() as data:
        server = subprocess.Popen([sys.executable, "-m", "refvid.cli", "serve", "--port", str(port), "--data-dir",
                                   data], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            run(url, args.rounds, args.baseline_polls)
        finally:
            server.terminate()
            server.wait(30)


def run(url: str, rounds: int, baseline_polls: int) -> None:
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {KEYS[1]}"}, timeout=30) as b:
        for _ in range(300):
            try:
                if b.get("/healthz").status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        path = f"/v1/tasks/{b.post('/v1/videos/generations', json={**BODY, 'image_urls': ['http://a.example/x.png']}).json()['id']}"

        def poll(stop: subprocess.Popen[str] | None, count: int = 300) -> list[float]:
            samples: list[float] = []
            while (stop is None and len(samples) < count) or (stop is not None and stop.poll() is None):
                began = time.monotonic()
                b.get(path)
                samples.append(time.monotonic() - began)
                time.sleep(0.01)
            return samples

        print("| phase | B's polls | p50 ms | p99 ms | max ms | p99 / baseline p99 | p99 / 65 MiB phase p99 "
              "| A's answers |")
        print("|---|---|---|---|---|---|---|---|")
        for _ in range(rounds):
            baseline = poll(None, baseline_polls)
            print(f"| alone | {len(baseline)} | {percentiles(baseline)} | 1.0× | | |")
            refused_p99 = 0.0
            for mib in (65, 60):
                code = f"import bench.big_bodies as m; print(m.flood({url!r}, {mib}))"
                a = subprocess.Popen(["nice", "-n", "19", sys.executable, "-c", code], stdout=subprocess.PIPE,
                                     text=True)
                during = poll(a)
                p99 = sorted(during)[int(len(during) * 0.99)]
                ratio = p99 / sorted(baseline)[int(len(baseline) * 0.99)]
                to_refused = f"{p99 / refused_p99:.1f}×" if refused_p99 else ""
                refused_p99 = refused_p99 or p99
                answers = a.communicate()[0].strip()
                print(f"| 8 × {mib} MiB | {len(during)} | {percentiles(during)} | {ratio:.1f}× | {to_refused} "
                      f"| {answers} |")


if __name__ == "__main__":
    main()
