"""Fair claiming through `refvid serve` with one worker (issue 14): key A queues 60 tasks, then key B submits
one; B's task starts before A's queue has drained — within the next 2 claims, not after all 60."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support import media_factory as mf
from tests.support.bodies import create_body
from tests.support.servers import KEY, Server, env_for

pytestmark = pytest.mark.slow
OTHER = "acceptance-key-b"
BATCH = 60


def started(api: httpx.Client, task_id: str) -> bool:
    task: dict[str, Any] = api.get(f"/v1/tasks/{task_id}").json()
    return bool(task["status"] != "pending")


def test_a_single_task_of_key_b_does_not_wait_behind_key_as_batch(tmp_path: Path,
                                                                   media_server: tuple[str, Path]) -> None:
    base, folder = media_server
    mf.make_image(folder / "a.png", 640, 480, seed=4)
    body = create_body(image_urls=[f"{base}/a.png"], duration=4)
    server = Server(tmp_path / "data", env_for(REFVID_API_KEYS=f"{KEY},{OTHER}", REFVID_WORKERS="1")).start()
    try:
        with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {KEY}"}, timeout=10) as a, \
                httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {OTHER}"}, timeout=10) as b:
            batch = [a.post("/v1/videos/generations", json=body).json()["id"] for _ in range(BATCH)]
            deadline = time.monotonic() + 60
            while not started(a, batch[0]):
                assert time.monotonic() < deadline, "the worker never started key A's first task"
                time.sleep(0.1)
            single = b.post("/v1/videos/generations", json=body).json()["id"]
            deadline = time.monotonic() + 120
            while not started(b, single):
                assert time.monotonic() < deadline, "key B's task never started"
                time.sleep(0.1)
            a_started = sum(started(a, task_id) for task_id in batch)
            assert a_started <= 3, f"{a_started} of key A's tasks started before key B's one"
            for task_id in batch:  # end quickly: the rest of the batch is not the point
                a.post(f"/v1/tasks/{task_id}/cancel")
    finally:
        output = server.stop()
    assert "Traceback" not in output, output[-4000:]
