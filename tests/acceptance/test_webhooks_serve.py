"""Webhooks through `refvid serve` (issue 14), with the default retry schedule: a receiver that answers 500 to
`processing` gets `completed` within 10 s of the completion (not after the 5 s, 5 min, … retries of
`processing`), and never an older state after it."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest

from tests.support import media_factory as mf
from tests.support.bodies import create_body
from tests.support.servers import KEY, Server, env_for, wait_terminal
from tests.support.webhooks import Receiver

pytestmark = pytest.mark.slow


def test_completed_reaches_a_receiver_that_refused_processing(tmp_path: Path, media_server: tuple[str, Path]) -> None:
    base, folder = media_server
    mf.make_image(folder / "a.png", 640, 480, seed=6)
    receiver = Receiver()
    receiver.script = [500]  # the `processing` event
    server = Server(tmp_path / "data", env_for(REFVID_WORKERS="1", REFVID_WEBHOOK_POLL_S="0.05")).start()
    try:
        with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {KEY}"}, timeout=10) as api:
            body = create_body(receiver.url, image_urls=[f"{base}/a.png"], duration=4)
            created = api.post("/v1/videos/generations", json=body).json()
            task = wait_terminal(api, created["id"])
            assert task["status"] == "completed", task
            deadline = time.monotonic() + 10  # from when the poll saw it completed
            while not any(json.loads(d.body)["type"] == "video.generation.completed" for d in receiver.deliveries):
                assert time.monotonic() < deadline, "`completed` did not arrive within 10 s"
                time.sleep(0.05)
            time.sleep(1.0)  # nothing else may follow
        types = [json.loads(d.body)["type"] for d in receiver.deliveries]
        # `processing` went out first and was refused (a completion before that would have superseded it)
        assert types == ["video.generation.processing", "video.generation.completed"]
        assert [d.answered for d in receiver.deliveries] == [500, 200]
    finally:
        output = server.stop()
        receiver.close()
    assert "Traceback" not in output, output[-4000:]
