"""Issue 9 acceptance: upload through each of the three endpoints, use the URL in a task, the task completes —
with an empty fetch allow-list, so the references can only have been read internally."""

from __future__ import annotations

import base64
from pathlib import Path

import httpx
import pytest

from refvid.config import Settings
from refvid.worker.supervisor import Worker
from tests.support import media_factory as mf
from tests.support.keys import OTHER_KEY
from tests.support.waiting import wait_for

MODEL = "seedance-2.0-fast-reference-to-video"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", api_keys=["test-key", OTHER_KEY], fetch_allow_hosts=[],
                    lease_s=5, heartbeat_s=0.5)


async def upload_all_three(api: httpx.AsyncClient, tmp_path: Path) -> list[str]:
    image = mf.make_image(tmp_path / "a.png", 640, 480, seed=1).read_bytes()
    video = mf.make_video(tmp_path / "v.mp4", 320, 240, seconds=2.5).read_bytes()
    audio = mf.make_wav(tmp_path / "a.wav", seconds=3).read_bytes()
    streamed = await api.post("/v1/files/upload/stream", files={"file": ("my image.png", image, "image/png")})
    as_base64 = await api.post("/v1/files/upload/base64",
                               json={"file_data": base64.b64encode(video).decode(), "file_name": "clip.mp4"})
    data_url = "data:audio/wav;base64," + base64.b64encode(audio).decode()
    from_url = await api.post("/v1/files/upload/url", json={"url": data_url, "file_name": "music.wav"})
    files = [streamed.json(), as_base64.json(), from_url.json()]
    for response, file in zip((streamed, as_base64, from_url), files, strict=True):
        assert response.status_code == 200, response.text
        assert file["id"].startswith("file-") and file["size"] > 0 and file["url"].startswith("http")
    assert files[0]["filename"] == "my_image.png" and files[1]["filename"] == "clip.mp4"
    fetched = await api.get(files[0]["url"], headers={"Authorization": ""})
    assert fetched.status_code == 200 and fetched.content == image
    return [f["url"] for f in files]


async def test_uploads_used_in_a_task(api: httpx.AsyncClient, worker: Worker, tmp_path: Path) -> None:
    image_url, video_url, audio_url = await upload_all_three(api, tmp_path)
    body = {"model": MODEL, "prompt": "@Image1, camera like @Video1, sound of @Audio1", "resolution": "480p",
            "duration": 4, "image_urls": [image_url], "video_urls": [video_url], "audio_urls": [audio_url]}
    created = (await api.post("/v1/videos/generations", json=body)).json()
    task = await wait_for(api, created["id"], {"completed", "failed"})
    assert task["status"] == "completed", task
    assert task["results"][0]["has_audio"] is True


async def test_another_keys_upload_is_not_read_internally(api: httpx.AsyncClient, worker: Worker,
                                                          tmp_path: Path) -> None:
    image_url, _, _ = await upload_all_three(api, tmp_path)
    other = {"Authorization": f"Bearer {OTHER_KEY}"}
    body = {"model": MODEL, "prompt": "@Image1", "resolution": "480p", "duration": 4, "image_urls": [image_url]}
    created = (await api.post("/v1/videos/generations", json=body, headers=other)).json()
    task = await wait_for(api, created["id"], {"completed", "failed"}, headers=other)
    assert task["status"] == "failed"
    assert task["error"]["code"] in ("reference_fetch_failed", "reference_forbidden_host")
    assert "image_urls[0]" in task["error"]["message"]


async def test_upload_rejects_unknown_types_and_bad_base64(api: httpx.AsyncClient) -> None:
    text = await api.post("/v1/files/upload/stream", files={"file": ("a.png", b"hello, not an image", "image/png")})
    assert text.status_code == 422 and text.json()["error"]["code"] == "unsupported_file_type"
    bad = await api.post("/v1/files/upload/base64", json={"file_data": "@@@not base64@@@"})
    assert bad.status_code == 422 and bad.json()["error"]["param"] == "file_data"
    private = await api.post("/v1/files/upload/url", json={"url": "http://127.0.0.1:9/x.png"})
    assert private.status_code == 422 and private.json()["error"]["code"] == "reference_forbidden_host"
