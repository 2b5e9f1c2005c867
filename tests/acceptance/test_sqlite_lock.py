"""SQLite's write lock held by another process for 5 s (as `VACUUM`, a backup restore or a busy `refvid worker`
can) under `refvid serve` (issue 25): polls sent meanwhile answer within 1 s (they must not wait at all),
`/healthz` answers and says the store is locked, creates complete once the lock is released, nothing is lost."""

from __future__ import annotations

import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

from tests.support.bodies import create_body
from tests.support.servers import KEY, Server, env_for

HOLD_S = 5.0
HOLDER = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
conn.execute("COMMIT")
"""


def test_a_write_lock_held_elsewhere_delays_creates_only(tmp_path: Path) -> None:
    server = Server(tmp_path / "data", env_for(REFVID_WORKERS="0")).start()
    try:
        with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {KEY}"}, timeout=30) as api, \
                ThreadPoolExecutor(4) as pool:
            known = api.post("/v1/videos/generations", json=create_body()).json()["id"]
            database = tmp_path / "data" / "refvid.db"
            holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(database), str(HOLD_S)],
                                      stdout=subprocess.PIPE, text=True)
            assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
            locked_at = time.monotonic()
            creates = [pool.submit(api.post, "/v1/videos/generations", json=create_body()) for _ in range(3)]
            polls: list[tuple[int, float, dict[str, Any]]] = []
            health: list[tuple[int, float, dict[str, Any]]] = []
            while time.monotonic() - locked_at < HOLD_S - 0.5:
                for path, seen in ((f"/v1/tasks/{known}", polls), ("/healthz", health)):
                    sent = time.monotonic()
                    answer = api.get(path)
                    seen.append((answer.status_code, time.monotonic() - sent, answer.json()))
                time.sleep(0.2)
            assert not any(create.done() for create in creates), "a create answered while the lock was held"
            assert holder.wait(10) == 0
            holder.stdout.close()
            created = [create.result(timeout=30) for create in creates]
            ids = [answer.json()["id"] for answer in created if answer.status_code == 200]
            assert len(ids) == 3, [answer.text for answer in created]
            assert all(api.get(f"/v1/tasks/{task_id}").status_code == 200 for task_id in [known, *ids])
            assert {task["id"] for task in api.get("/v1/tasks").json()["data"]} == {known, *ids}
        assert all(status == 200 and took_s < 1.0 for status, took_s, _ in polls), polls
        assert all(status == 200 and took_s < 1.0 for status, took_s, _ in health), health
        assert any(body.get("status") == "degraded" and body["store"]["write_lock_wait_s"] > 0 for *_, body in health)
    finally:
        output = server.stop()
    assert "Traceback" not in output, output[-4000:]
