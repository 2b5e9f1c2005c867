"""The relay end to end: `refvid serve` as a subprocess with an Ark key, talking to the fake Ark, driven
through the FoxAPI-compatible API the way a client would."""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support import media_factory as mf
from tests.support.fakes.ark import FakeArk
from tests.support.servers import KEY, Server, env_for, wait_terminal

pytestmark = pytest.mark.slow
RATIOS = {"16:9", "4:3", "1:1", "3:4", "9:16", "21:9", "adaptive"}


def relay_env(ark: FakeArk) -> dict[str, str]:
    return env_for(REFVID_ARK_API_KEY="x", REFVID_ARK_BASE_URL=ark.base_url, REFVID_ARK_POLL_INTERVAL_S="0.1",
                   REFVID_ARK_POLL_MAX_INTERVAL_S="0.3")


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("relay-api-media")
    return {"image": mf.make_image(folder / "char.png", 800, 600, seed=7),
            "video": mf.make_video(folder / "motion.mp4", 320, 240, seconds=2.5),
            "audio": mf.make_mp3(folder / "music.mp3", seconds=3.0),
            "result": mf.make_video(folder / "result.mp4", 320, 240, seconds=2.0, with_audio=True)}


@pytest.fixture(scope="module")
def ark(media: dict[str, Path]) -> Iterator[FakeArk]:
    with FakeArk(video=media["result"].read_bytes()) as fake:
        yield fake


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, ark: FakeArk) -> Iterator[Server]:
    running = Server(tmp_path_factory.mktemp("relay-api") / "data", relay_env(ark)).start()
    yield running
    running.stop()


@pytest.fixture
def refs(media_server: tuple[str, Path], media: dict[str, Path]) -> str:
    base, folder = media_server
    for name in ("image", "video", "audio"):
        (folder / media[name].name).write_bytes(media[name].read_bytes())
    return base


@pytest.fixture
def client(server: Server, ark: FakeArk) -> Iterator[httpx.Client]:
    ark.plan(outcome="succeeded", queued_ms=30, running_ms=60, hold=False, seed=None, ratio=None, duration=None)
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {KEY}"}, timeout=30) as c:
        yield c


def body_for(base: str, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"model": "seedance-2.0-reference-to-video",
                            "prompt": "@Image1 walks to the beat of @Audio1, camera like @Video1",
                            "image_urls": [f"{base}/char.png"], "video_urls": [f"{base}/motion.mp4"],
                            "audio_urls": [f"{base}/music.mp3"]}
    return {**body, **changes}


def submit(client: httpx.Client, body: dict[str, Any]) -> str:
    created = client.post("/v1/videos/generations", json=body)
    assert created.status_code == 200, created.text
    return str(created.json()["id"])


def wait_for(predicate: Any, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def upstream_ids_after(ark: FakeArk, count_before: int) -> list[str]:
    return list(ark.tasks)[count_before:]


def test_full_lifecycle_through_the_api(client: httpx.Client, ark: FakeArk, refs: str,
                                        media: dict[str, Path]) -> None:
    uploaded = client.post("/v1/files/upload/base64", json={
        "file_data": base64.b64encode(media["image"].read_bytes()).decode(), "file_name": "mine.png"}).json()
    ark.plan(seed=4242, duration=6, ratio="4:3", queued_ms=200, running_ms=1200)
    before = len(ark.creates)
    task_id = submit(client, body_for(refs, image_urls=[f"{refs}/char.png", uploaded["url"]], duration=-1,
                                      resolution="1080p", generate_audio=True, seed=99))
    wait_for(lambda: len(ark.creates) > before)
    wait_for(lambda: client.get(f"/v1/tasks/{task_id}", params={"sync_upstream": "true"}).json()["task_info"][
        "can_cancel"] is False)
    task = wait_terminal(client, task_id, timeout_s=60)
    assert task["status"] == "completed", task
    result = task["results"][0]
    assert (result["seed"], result["duration"], result["width"], result["height"]) == (4242, 6, 320, 240)
    assert result["has_audio"] is True and result["thumbnail_url"]
    video = httpx.get(result["url"], timeout=30)  # our stored copy, not the provider's expiring URL
    assert video.status_code == 200 and video.content == media["result"].read_bytes()
    body = ark.creates[before]
    assert body["model"] == "dreamina-seedance-2-0-260128"
    assert body["content"][0] == {"type": "text", "text": "Image 1 walks to the beat of Audio 1, camera like Video 1"}
    kinds = [(c["type"], c.get("role")) for c in body["content"][1:]]
    assert kinds == [("image_url", "reference_image"), ("image_url", "reference_image"),
                     ("video_url", "reference_video"), ("audio_url", "reference_audio")]
    assert body["content"][1]["image_url"]["url"] == f"{refs}/char.png"
    assert body["content"][2]["image_url"]["url"].startswith("data:image/png;base64,")  # our upload, inlined
    assert body["content"][3]["video_url"]["url"] == f"{refs}/motion.mp4"
    assert (body["resolution"], body["duration"], body["seed"], body["generate_audio"], body["watermark"]) == (
        "1080p", -1, 99, True, False)
    assert body["ratio"] in RATIOS


def test_fast_model_and_429_bursts(client: httpx.Client, ark: FakeArk, refs: str) -> None:
    before = len(ark.calls("POST"))
    ark.throttle(3, retry_after="0", method="POST")
    task_id = submit(client, body_for(refs, model="seedance-2.0-fast-reference-to-video", ratio="9:16",
                                      duration=4, resolution="480p"))
    task = wait_terminal(client, task_id, timeout_s=60)
    assert task["status"] == "completed", task
    posts = ark.calls("POST")[before:]
    assert len(posts) == 4 and posts[-1].body["model"] == "dreamina-seedance-2-0-fast-260128"
    assert (posts[-1].body["ratio"], posts[-1].body["duration"]) == ("9:16", 4)


def test_cancel_while_queued_deletes_upstream(client: httpx.Client, ark: FakeArk, refs: str) -> None:
    ark.plan(hold=True)
    before = len(ark.tasks)
    task_id = submit(client, body_for(refs))
    wait_for(lambda: len(ark.tasks) > before)
    [upstream_id] = upstream_ids_after(ark, before)
    cancelled = client.post(f"/v1/tasks/{task_id}/cancel")
    assert cancelled.status_code == 200, cancelled.text
    task = wait_terminal(client, task_id)
    assert task["status"] == "cancelled"
    assert [r.path for r in ark.calls("DELETE")][-1].endswith(upstream_id)
    assert ark.status(upstream_id) == "cancelled"


def test_running_upstream_cannot_be_cancelled_and_failures_map(client: httpx.Client, ark: FakeArk,
                                                               refs: str) -> None:
    ark.plan(queued_ms=0, running_ms=2500, outcome="failed", error_code="OutputVideoSensitiveContentDetected",
             error_message="The output video may contain sensitive information.")
    task_id = submit(client, body_for(refs))
    wait_for(lambda: client.get(f"/v1/tasks/{task_id}").json()["task_info"]["can_cancel"] is False)
    refused = client.post(f"/v1/tasks/{task_id}/cancel")
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "task_not_cancellable"
    task = wait_terminal(client, task_id, timeout_s=60)
    assert task["status"] == "failed"
    assert task["error"]["code"] == "upstream_rejected"
    assert "OutputVideoSensitiveContentDetected" in task["error"]["message"]


def test_restart_mid_task_resumes_the_same_upstream_task(tmp_path: Path, ark: FakeArk, refs: str) -> None:
    ark.plan(queued_ms=0, running_ms=6000, outcome="succeeded", hold=False, seed=None, ratio=None, duration=None)
    data = tmp_path / "data"
    first = Server(data, relay_env(ark)).start()
    before = len(ark.tasks)
    try:
        with httpx.Client(base_url=first.url, headers={"Authorization": f"Bearer {KEY}"}, timeout=30) as c:
            task_id = submit(c, body_for(refs, duration=5))
            wait_for(lambda: c.get(f"/v1/tasks/{task_id}").json()["task_info"]["can_cancel"] is False)
    finally:
        first.kill9()
    [upstream_id] = upstream_ids_after(ark, before)
    restarted = Server(data, relay_env(ark)).start()
    try:
        with httpx.Client(base_url=restarted.url, headers={"Authorization": f"Bearer {KEY}"}, timeout=30) as c:
            task = wait_terminal(c, task_id, timeout_s=60)
    finally:
        restarted.stop()
    assert task["status"] == "completed", task
    assert upstream_ids_after(ark, before) == [upstream_id]  # no second upstream submission
    assert not any(r.path.endswith(upstream_id) for r in ark.calls("DELETE"))


def test_an_ark_request_reaches_ark_with_every_parameter_it_set(client: httpx.Client, ark: FakeArk, refs: str) -> None:
    """An Ark-dialect Seedance 2.5 task is relayed with Ark's own model id and every parameter Ark takes that
    the request set, as it set them (the fake Ark checks each against Ark's documented rules)."""
    before = len(ark.creates)
    created = client.post("/api/v3/contents/generations/tasks", json={
        "model": "dreamina-seedance-2-5-260628",
        "content": [{"type": "text", "text": "@Image1 walks"},
                    {"type": "image_url", "image_url": {"url": f"{refs}/char.png"}, "role": "reference_image"}],
        "duration": 20, "service_tier": "flex", "priority": 4, "execution_expires_after": 7200,
        "safety_identifier": "user-42", "camera_fixed": True, "return_last_frame": True, "watermark": True})
    assert created.status_code == 200, created.text
    task_id = created.json()["id"]
    assert wait_terminal(client, task_id, timeout_s=60)["status"] == "completed"
    body = ark.creates[before]
    assert body["model"] == "dreamina-seedance-2-5-260628" and body["duration"] == 20
    assert {k: body.get(k) for k in ("service_tier", "priority", "execution_expires_after", "safety_identifier",
                                     "camera_fixed", "return_last_frame", "watermark")} == {
        "service_tier": "flex", "priority": 4, "execution_expires_after": 7200, "safety_identifier": "user-42",
        "camera_fixed": True, "return_last_frame": True, "watermark": True}
    shown = client.get(f"/api/v3/contents/generations/tasks/{task_id}").json()
    assert (shown["service_tier"], shown["priority"], shown["safety_identifier"]) == ("flex", 4, "user-42")
