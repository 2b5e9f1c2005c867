"""Issue 27, the small ones: a last frame fetched while its task is deleted leaves no file behind; the loser
of two racing deletes gets 404; callback URLs with ports outside 1-65535 are refused at submit in every
dialect."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from refvid.api.ark import frames
from refvid.api.errors import ApiError
from refvid.errors import NotFound
from refvid.runtime import Runtime
from refvid.storage.signing import signed_query
from refvid.tasks.model import TaskStatus
from tests.support import media_factory as mf
from tests.support.bodies import create_body

ARK_TASKS = "/api/v3/contents/generations/tasks"


async def completed_task_id(api: httpx.AsyncClient, runtime: Runtime, tmp_path: Path) -> str:
    """A completed task whose result is a real (small) MP4."""
    created = (await api.post("/v1/videos/generations", json=create_body())).json()
    claim = runtime.store.claim_next("w", ["compositor"], lease_s=30)
    assert claim is not None
    key = f"results/{created['id']}/1/video.mp4"
    runtime.blobs.put_file(key, mf.make_video(tmp_path / "v.mp4", 64, 48, seconds=0.5), "video/mp4")
    runtime.store.finish(created["id"], claim.token, TaskStatus.COMPLETED, result={
        "video_key": key, "seed": 1, "width": 64, "height": 48, "duration": 1, "fps": 24, "has_audio": False})
    return str(created["id"])


async def test_a_last_frame_fetched_while_its_task_is_deleted_leaves_no_file(
        api: httpx.AsyncClient, runtime: Runtime, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    task_id = await completed_task_id(api, runtime, tmp_path)
    decode = frames.extract_last_frame

    def decode_while_deleted(video: Path, dest: Path) -> Path:  # the delete lands while the frame decodes
        png = decode(video, dest)
        runtime.store.delete_task(task_id)  # what TaskService.delete does, from this thread
        runtime.blobs.delete_prefix(f"results/{task_id}/")
        return png

    monkeypatch.setattr(frames, "extract_last_frame", decode_while_deleted)
    signed = signed_query(runtime.signing_secret, frames.frame_path(task_id), int(time.time()) + 3600)
    query = dict(pair.split("=") for pair in signed.split("&"))
    with pytest.raises(ApiError) as refused:
        frames.last_frame_file(runtime, task_id, query["expires"], query["sig"])
    assert refused.value.status == 404
    assert not runtime.blobs.exists(frames.frame_key(task_id))
    assert not list((runtime.settings.data_dir / "blobs" / "results").glob(f"{task_id}/**/*.*"))


async def test_the_loser_of_two_racing_deletes_gets_404(api: httpx.AsyncClient, runtime: Runtime,
                                                        tmp_path: Path) -> None:
    task_id = await completed_task_id(api, runtime, tmp_path)
    runtime.store.delete_task(task_id)
    with pytest.raises(NotFound):  # the second delete passed its ownership check before the first committed
        runtime.store.delete_task(task_id)
    assert (await api.delete(f"/v1/tasks/{task_id}")).status_code == 404


@pytest.mark.parametrize("port", [0, 65536, 99999])
async def test_callback_ports_outside_1_to_65535_are_refused_at_submit(api: httpx.AsyncClient, port: int) -> None:
    url = f"http://hooks.example.com:{port}/h"
    fox = await api.post("/v1/videos/generations", json=create_body(url))
    assert fox.status_code == 422 and fox.json()["error"]["param"] == "callback_url", fox.text
    assert "1-65535" in fox.json()["error"]["message"]
    ark = await api.post(ARK_TASKS, json={"model": "doubao-seedance-2-0-fast-260128", "callback_url": url,
                                          "content": [{"type": "text", "text": "a cat"}]})
    assert ark.status_code == 400 and ark.json()["error"]["param"] == "callback_url", ark.text
    assert (await api.get("/v1/tasks")).json()["data"] == []
    assert (await api.post("/v1/videos/generations", json=create_body("http://hooks.example.com:65535/h"))).is_success
