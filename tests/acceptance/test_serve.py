"""`refvid serve` as a real subprocess, driven by a plain HTTP client the way a FoxAPI user would."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support import media_factory as mf
from tests.support.servers import KEY, Server, env_for, wait_terminal
from tests.support.video_checks import assert_contract

pytestmark = pytest.mark.slow


@pytest.fixture
def refs(media_server: tuple[str, Path]) -> str:
    base, folder = media_server
    mf.make_image(folder / "char.png", 800, 600, seed=7)
    mf.make_video(folder / "motion.mp4", 320, 240, seconds=2.5)
    mf.make_mp3(folder / "music.mp3", seconds=3.0)
    return base


def foxapi_request(base: str, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": "seedance-2.0-reference-to-video",
        "prompt": "Reference @Image1 character styling, @Video1 camera movement rhythm, @Audio1 atmosphere",
        "image_urls": [f"{base}/char.png"], "video_urls": [f"{base}/motion.mp4"],
        "audio_urls": [f"{base}/music.mp3"], "ratio": "adaptive", "duration": -1, "generate_audio": True,
    }
    body.update(changes)
    return body


@pytest.mark.parametrize(("changes", "size", "duration", "audio"), [
    ({}, (1112, 834), 4, True),  # adaptive: the 800×600 image is 4:3; -1: the 2.5 s video, clamped to 4 s
    ({"resolution": "480p", "ratio": "9:16", "duration": 4, "generate_audio": False}, (496, 864), 4, False),
    ({"resolution": "480p", "ratio": "21:9", "duration": 4}, (992, 432), 4, True),
])
def test_foxapi_request_completes(refvid_server: Server, refs: str, tmp_path: Path, changes: dict[str, Any],
                                  size: tuple[int, int], duration: int, audio: bool) -> None:
    with httpx.Client(base_url=refvid_server.url, headers={"Authorization": f"Bearer {KEY}"}, timeout=30) as client:
        created = client.post("/v1/videos/generations", json=foxapi_request(refs, **changes))
        assert created.status_code == 200, created.text
        task = wait_terminal(client, created.json()["id"])
        assert task["status"] == "completed", task
        result = task["results"][0]
        video = httpx.get(result["url"], timeout=30)  # no Authorization header
        assert video.status_code == 200
        (tmp_path / "out.mp4").write_bytes(video.content)
        assert_contract(tmp_path / "out.mp4", *size, duration, has_audio=audio)
        assert result["duration"] == duration


def test_generated_key_printed_once_and_hashed(tmp_path: Path) -> None:
    env = env_for()
    del env["REFVID_API_KEYS"]
    first = Server(tmp_path / "data", env).start()
    time.sleep(0.5)
    output = first.stop()
    key = next(line.strip() for line in output.splitlines() if line.strip().startswith("rv-"))
    assert key not in (tmp_path / "data" / "refvid.db").read_bytes().decode("latin-1")
    second = Server(tmp_path / "data", env).start()
    try:
        ok = httpx.get(f"{second.url}/v1/models", headers={"Authorization": f"Bearer {key}"})
        assert ok.status_code == 200
        assert httpx.get(f"{second.url}/v1/models", headers={"Authorization": "Bearer rv-wrong"}).status_code == 401
    finally:
        assert "rv-" not in second.stop()  # shown once: not on the next start


def test_kill9_mid_task_loses_nothing(tmp_path: Path, refs: str) -> None:
    data = tmp_path / "data"
    server = Server(data, env_for()).start()
    ids: list[str] = []
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {KEY}"}, timeout=30) as client:
        for i in range(4):
            body = foxapi_request(refs, resolution="480p", ratio="16:9", duration=6 if i == 0 else 4)
            ids.append(client.post("/v1/videos/generations", json=body).json()["id"])
        deadline = time.monotonic() + 60
        while client.get(f"/v1/tasks/{ids[0]}").json()["status"] != "processing":
            assert time.monotonic() < deadline
            time.sleep(0.05)
    server.kill9()
    restarted = Server(data, env_for()).start()
    try:
        with httpx.Client(base_url=restarted.url, headers={"Authorization": f"Bearer {KEY}"}, timeout=30) as client:
            finals = [wait_terminal(client, task_id, timeout_s=180) for task_id in ids]
            assert [t["status"] for t in finals] == ["completed"] * 4, finals
            listed = client.get("/v1/tasks", params={"limit": 100}).json()["data"]
            assert sorted(t["id"] for t in listed) == sorted(ids)
    finally:
        restarted.stop()
    with sqlite3.connect(data / "refvid.db") as db:
        rows = db.execute("SELECT id, status, attempts FROM tasks").fetchall()
    assert len(rows) == 4 and all(status == "completed" for _, status, _ in rows)
    assert dict((r[0], r[2]) for r in rows)[ids[0]] == 2  # the interrupted one ran again, once
