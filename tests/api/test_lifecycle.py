"""A task's life through the API with a real in-process worker and the real compositor engine."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import signal
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from refvid.runtime import Runtime
from refvid.storage.signing import signed_query
from refvid.worker.supervisor import Worker
from tests.support import media_factory as mf
from tests.support.video_checks import assert_contract
from tests.support.waiting import wait_for

MODEL = "seedance-2.0-fast-reference-to-video"


def request(base: str, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"model": MODEL, "prompt": "@Image1 in the rain", "image_urls": [f"{base}/a.png"],
                            "resolution": "480p", "ratio": "16:9", "duration": 4, "generate_audio": True}
    body.update(changes)
    return body


@pytest.fixture
def refs(media_server: tuple[str, Path]) -> str:
    base, folder = media_server
    mf.make_image(folder / "a.png", 640, 480, seed=3)
    mf.make_image(folder / "b.jpg", 480, 640, seed=4)
    mf.make_video(folder / "v.mp4", 320, 240, seconds=2.5)
    mf.make_wav(folder / "a.wav", seconds=3.0)
    return base


async def wait_rendering(api: httpx.AsyncClient, task_id: str) -> None:
    """Until the engine itself is running (past the reference-fetching part of the progress)."""
    await wait_for(api, task_id, {"processing"})
    while (await api.get(f"/v1/tasks/{task_id}")).json()["progress"] < 15:
        await asyncio.sleep(0.05)


async def download(api: httpx.AsyncClient, url: str, dest: Path) -> Path:
    response = await api.get(url, headers={"Authorization": ""})
    assert response.status_code == 200, response.text
    dest.write_bytes(response.content)
    return dest


async def test_completes_with_contract_output(api: httpx.AsyncClient, worker: Worker, refs: str,
                                              tmp_path: Path) -> None:
    body = request(refs, image_urls=[f"{refs}/a.png", f"{refs}/b.jpg"], video_urls=[f"{refs}/v.mp4"],
                   audio_urls=[f"{refs}/a.wav"], prompt="@Image2 then @Image1, camera like @Video1, @Audio1")
    created = (await api.post("/v1/videos/generations", json=body)).json()
    task = await wait_for(api, created["id"], {"completed", "failed"})
    assert task["status"] == "completed", task
    assert task["progress"] == 100 and task["task_info"] == {"can_cancel": False, "estimated_time": 0}
    (result,) = task["results"]
    assert result["url"].startswith("http://refvid.test/v1/results/")
    assert (result["width"], result["height"], result["fps"], result["has_audio"]) == (864, 496, 24, True)
    assert 0 <= result["seed"] <= 2**31 - 1
    video = await download(api, result["url"], tmp_path / "out.mp4")
    assert_contract(video, 864, 496, 4, has_audio=True)
    ranged = await api.get(result["url"], headers={"Authorization": "", "Range": "bytes=0-99"})
    assert ranged.status_code == 206 and len(ranged.content) == 100
    assert ranged.headers["content-range"].startswith("bytes 0-99/")
    thumb = await api.get(result["thumbnail_url"], headers={"Authorization": ""})
    assert thumb.status_code == 200 and thumb.content[:3] == b"\xff\xd8\xff"


@pytest.mark.parametrize(("resolution", "ratio", "audio", "size"), [
    ("480p", "9:16", False, (496, 864)),
    ("480p", "adaptive", True, (752, 560)),  # a.png is 640×480 → 4:3
])
async def test_sizes_and_audio(api: httpx.AsyncClient, worker: Worker, refs: str, tmp_path: Path, resolution: str,
                               ratio: str, audio: bool, size: tuple[int, int]) -> None:
    body = request(refs, resolution=resolution, ratio=ratio, generate_audio=audio)
    created = (await api.post("/v1/videos/generations", json=body)).json()
    task = await wait_for(api, created["id"], {"completed", "failed"})
    assert task["status"] == "completed", task
    video = await download(api, task["results"][0]["url"], tmp_path / "out.mp4")
    assert_contract(video, *size, 4, has_audio=audio)


async def test_result_url_signature_and_expiry(api: httpx.AsyncClient, worker: Worker, refs: str,
                                               runtime: Runtime) -> None:
    created = (await api.post("/v1/videos/generations", json=request(refs))).json()
    task = await wait_for(api, created["id"], {"completed"})
    url = httpx.URL(task["results"][0]["url"])
    tampered = url.copy_with(params={"expires": url.params["expires"], "sig": "0" * 32})
    assert (await api.get(tampered, headers={"Authorization": ""})).status_code == 403
    path = f"/v1/results/{created['id']}/video.mp4"
    expired = f"{path}?{signed_query(runtime.signing_secret, path, int(time.time()) - 1)}"
    response = await api.get(expired, headers={"Authorization": ""})
    assert response.status_code == 410 and response.json()["error"]["type"]
    assert int(url.params["expires"]) - time.time() == pytest.approx(24 * 3600, abs=120)


async def test_cancel_pending_then_again(api: httpx.AsyncClient, refs: str) -> None:
    created = (await api.post("/v1/videos/generations", json=request(refs))).json()
    cancelled = (await api.post(f"/v1/tasks/{created['id']}/cancel")).json()
    assert cancelled["status"] == "cancelled" and cancelled["task_info"]["can_cancel"] is False
    again = await api.post(f"/v1/tasks/{created['id']}/cancel")
    assert again.status_code == 409 and again.json()["error"]["code"] == "task_not_cancellable"


async def test_cancel_processing_stops_within_2s(api: httpx.AsyncClient, worker: Worker, refs: str) -> None:
    body = request(refs, model="seedance-2.0-reference-to-video", resolution="1080p", duration=15)
    created = (await api.post("/v1/videos/generations", json=body)).json()
    await wait_rendering(api, created["id"])
    started = time.monotonic()
    answer = (await api.post(f"/v1/tasks/{created['id']}/cancel")).json()
    assert answer["status"] in ("processing", "cancelled")
    assert answer["task_info"]["can_cancel"] is False
    task = await wait_for(api, created["id"], {"cancelled", "completed", "failed"})
    assert (task["status"] == "cancelled" and "results" not in task) or not task.get("results")
    assert time.monotonic() - started < 2.5


async def test_cancel_completed_is_409_and_delete(api: httpx.AsyncClient, worker: Worker, refs: str) -> None:
    created = (await api.post("/v1/videos/generations", json=request(refs))).json()
    task = await wait_for(api, created["id"], {"completed"})
    response = await api.post(f"/v1/tasks/{created['id']}/cancel")
    assert response.status_code == 409 and response.json()["error"]["code"] == "task_not_cancellable"
    deleted = (await api.delete(f"/v1/tasks/{created['id']}")).json()
    assert deleted == {"id": created["id"], "object": "video.generation.task.deleted", "deleted": True}
    assert (await api.get(f"/v1/tasks/{created['id']}")).status_code == 404
    assert (await api.get(task["results"][0]["url"], headers={"Authorization": ""})).status_code == 404


async def test_delete_running_task_is_409(api: httpx.AsyncClient, refs: str) -> None:
    created = (await api.post("/v1/videos/generations", json=request(refs))).json()
    response = await api.delete(f"/v1/tasks/{created['id']}")
    assert response.status_code == 409


async def test_list_with_cursor(api: httpx.AsyncClient, refs: str) -> None:
    ids = [(await api.post("/v1/videos/generations", json=request(refs))).json()["id"] for _ in range(5)]
    await api.post(f"/v1/tasks/{ids[0]}/cancel")
    seen: list[str] = []
    after = None
    while True:
        params: dict[str, Any] = {"limit": 2, **({"after": after} if after else {})}
        page = (await api.get("/v1/tasks", params=params)).json()
        assert page["object"] == "list"
        seen += [t["id"] for t in page["data"]]
        after = page["last_id"]
        if not page["has_more"]:
            break
    assert seen == ids[::-1]
    cancelled = (await api.get("/v1/tasks", params={"status": "cancelled"})).json()
    assert [t["id"] for t in cancelled["data"]] == [ids[0]]
    assert (await api.get("/v1/tasks", params={"limit": 0})).status_code == 422
    unknown = await api.get("/v1/tasks", params={"after": "task-unified-1-zzzzzzzz"})
    assert unknown.status_code == 422 and unknown.json()["error"]["param"] == "after"


async def test_models(api: httpx.AsyncClient) -> None:
    models = (await api.get("/v1/models")).json()
    by_id = {m["id"]: m for m in models["data"]}
    assert by_id["seedance-2.0-reference-to-video"]["resolutions"] == ["480p", "720p", "1080p"]
    assert by_id[MODEL]["resolutions"] == ["480p", "720p"]
    assert all(m["object"] == "model" and m["engine"] == "compositor" for m in models["data"])


async def test_seed_round_trip_reproduces_frames(api: httpx.AsyncClient, worker: Worker, refs: str,
                                                 tmp_path: Path) -> None:
    import av
    import numpy as np

    first = (await api.post("/v1/videos/generations", json=request(refs, seed=-1))).json()
    done = await wait_for(api, first["id"], {"completed"})
    seed = done["results"][0]["seed"]
    second = (await api.post("/v1/videos/generations", json=request(refs, seed=seed))).json()
    again = await wait_for(api, second["id"], {"completed"})
    assert again["results"][0]["seed"] == seed
    frames = []
    for name, task in (("1", done), ("2", again)):
        path = await download(api, task["results"][0]["url"], tmp_path / f"{name}.mp4")
        with av.open(str(path)) as container:
            frames.append(np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)]))
    assert np.array_equal(frames[0], frames[1])


async def test_engine_crash_is_retried(api: httpx.AsyncClient, worker: Worker, refs: str) -> None:
    body = request(refs, resolution="720p", duration=12)
    created = (await api.post("/v1/videos/generations", json=body)).json()
    await wait_rendering(api, created["id"])
    (child,) = [p for p in multiprocessing.active_children() if p.name.startswith("refvid-engine")]
    assert child.pid is not None
    os.kill(child.pid, signal.SIGKILL)
    task = await wait_for(api, created["id"], {"completed", "failed"}, timeout_s=180)
    assert task["status"] == "completed", task
    stored = worker.deps.store.get_task(created["id"])
    assert stored is not None and stored.attempts == 2
