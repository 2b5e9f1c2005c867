"""The `/v1/videos` dialect driven by the official `openai` SDK (`AsyncOpenAI().videos`, unmodified) against the
real app and a real in-process worker with the default CPU compositor: an `input_reference` file becomes
@Image1 beside `extra_body` references, `create_and_poll` follows `openai-poll-after-ms`, `download_content`
returns the MP4 itself; and the same tasks under every dialect and key."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import av
import httpx
import numpy as np
import pytest
from openai import NotFoundError
from openai.resources.videos import AsyncVideos
from PIL import Image

from refvid.runtime import Runtime
from refvid.worker.supervisor import Worker
from tests.support import media_factory as mf
from tests.support.keys import API_KEY, OTHER_KEY
from tests.support.video_checks import assert_contract

AUTH = {"Authorization": f"Bearer {API_KEY}"}
FAST_REFERENCE = "seedance-2.0-fast-reference-to-video"
# refvid's sizes and durations lie outside the SDK's Sora literals (its types); the wire takes any string.
SMALL: Any = "864x496"
SMALL_4_3: Any = "752x560"
SIX: Any = "6"


def mean_rgb(path: Path) -> np.ndarray:
    with av.open(str(path)) as container:
        frames = [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]
    means: np.ndarray = np.stack(frames).astype(np.float64).mean(axis=(0, 1, 2))
    return means


async def test_an_input_reference_file_becomes_image1_and_the_video_downloads(
        videos: AsyncVideos, http: httpx.AsyncClient, worker: Worker, runtime: Runtime, served: dict[str, str],
        tmp_path: Path) -> None:
    red = mf.make_image(tmp_path / "red.png", 400, 300, seed=2, tint=(255, 0, 0))
    polls: list[str] = []

    async def record_poll(response: httpx.Response) -> None:
        if response.request.method == "GET" and "openai-poll-after-ms" in response.headers:
            polls.append(response.headers["openai-poll-after-ms"])

    http.event_hooks["response"].append(record_poll)
    video = await videos.create_and_poll(
        model=FAST_REFERENCE, prompt="slow push in, then @Image2 in the rain", seconds="4", size=SMALL_4_3,
        input_reference=red, extra_body={"image_urls": [served["image"]], "generate_audio": False,
                                                   "seed": 77})
    assert video.status == "completed", video
    assert (video.model, video.seconds, video.size, video.progress) == (FAST_REFERENCE, "4", "752x560", 100)
    assert video.prompt == "@Image1 slow push in, then @Image2 in the rain"  # the file is named, the rest follow
    assert video.completed_at is not None and video.expires_at == video.completed_at + 24 * 3600
    assert polls and all(500 <= int(ms) <= 5000 for ms in polls)  # create_and_poll was told how long to wait

    spec = runtime.store.get_task(video.id).spec  # type: ignore[union-attr]
    assert spec.image_urls[0].startswith("http://refvid.test/v1/files/file-") and "/red.png?" in spec.image_urls[0]
    assert spec.image_urls[1:] == (served["image"],) and (spec.seed, spec.generate_audio) == (77, False)

    content = await videos.download_content(video.id)  # the bytes themselves, not a redirect to follow
    (tmp_path / "out.mp4").write_bytes(content.content)
    assert_contract(tmp_path / "out.mp4", 752, 560, 4, has_audio=False)
    red_mean = mean_rgb(tmp_path / "out.mp4")
    assert red_mean[0] > red_mean[2] + 40, red_mean  # the red @Image1 is on screen
    thumbnail = await videos.download_content(video.id, variant="thumbnail")
    image = Image.open(io.BytesIO(thumbnail.content))
    assert image.format == "JPEG" and abs(image.width / image.height - 752 / 560) < 0.02, image

    foxapi = (await http.get(f"/v1/tasks/{video.id}", headers=AUTH)).json()
    assert foxapi["status"] == "completed" and foxapi["results"][0]["seed"] == 77
    deleted = await videos.delete(video.id)
    assert (deleted.id, deleted.deleted, deleted.object) == (video.id, True, "video.deleted")
    with pytest.raises(NotFoundError):
        await videos.retrieve(video.id)
    assert (await http.get(foxapi["results"][0]["url"])).status_code == 404  # the files went with it


async def test_list_pages_with_a_cursor_in_either_order(videos: AsyncVideos) -> None:
    ids = [(await videos.create(prompt=f"shot {n}", seconds="4", size=SMALL)).id for n in range(3)]
    newest = await videos.list(limit=2)
    assert [v.id for v in newest.data] == ids[:0:-1] and newest.has_more
    assert ((newest.model_extra or {})["first_id"], newest.last_id) == (ids[2], ids[1])
    assert newest.last_id is not None
    rest = await videos.list(limit=2, after=newest.last_id)
    assert [v.id for v in rest.data] == [ids[0]] and not rest.has_more
    oldest = await videos.list(order="asc", limit=2)
    assert [v.id for v in oldest.data] == ids[:2]
    assert [v.id async for v in videos.list(order="asc", limit=1)] == ids  # the SDK's auto-paging
    assert {v.model for v in newest.data} == {"seedance-2.0-text-to-video"}  # no model, no references


async def test_one_task_store_under_every_dialect_and_no_other_keys_task(
        videos: AsyncVideos, http: httpx.AsyncClient, served: dict[str, str]) -> None:
    created = await videos.create(prompt="@Image1 at dusk", model=FAST_REFERENCE, seconds=SIX, size="720x1280",
                                  extra_body={"image_urls": [served["image"]]})
    assert (created.status, created.size, created.seconds) == ("queued", "720x1280", "6")
    fox = (await http.get(f"/v1/tasks/{created.id}", headers=AUTH)).json()
    assert (fox["status"], fox["model"]) == ("pending", FAST_REFERENCE)
    ark = (await http.get(f"/api/v3/contents/generations/tasks/{created.id}", headers=AUTH)).json()
    assert (ark["status"], ark["resolution"], ark["ratio"], ark["duration"]) == ("queued", "720p", "9:16", 6)

    body = {"model": "seedance-2.0-reference-to-video", "prompt": "@Image1", "image_urls": [served["image"]],
            "resolution": "480p", "ratio": "1:1", "duration": 5}
    fox_id = (await http.post("/v1/videos/generations", json=body, headers=AUTH)).json()["id"]
    seen = await videos.retrieve(fox_id)
    assert (seen.status, seen.size, seen.seconds, seen.model) == ("queued", "640x640", "5", body["model"])
    ark_body = {"model": "dreamina-seedance-2-0-fast-260128", "content": [{"type": "text", "text": "rain"}]}
    ark_id = (await http.post("/api/v3/contents/generations/tasks", json=ark_body, headers=AUTH)).json()["id"]
    assert (await videos.retrieve(ark_id)).model == "dreamina-seedance-2-0-fast-260128"

    other = {"Authorization": f"Bearer {OTHER_KEY}"}
    for path in (f"/v1/videos/{created.id}", f"/v1/videos/{created.id}/content", f"/v1/tasks/{created.id}",
                 f"/api/v3/contents/generations/tasks/{created.id}"):
        assert (await http.get(path, headers=other)).status_code == 404, path
    assert (await http.delete(f"/v1/videos/{fox_id}", headers=other)).status_code == 404
    assert created.id not in [v.id for v in (await http.get("/v1/videos", headers=other)).json()["data"]]


async def test_delete_cancels_a_queued_video_and_content_waits_for_completion(
        videos: AsyncVideos, http: httpx.AsyncClient, runtime: Runtime) -> None:
    created = await videos.create(prompt="a lighthouse", seconds="4", size=SMALL)
    early = await http.get(f"/v1/videos/{created.id}/content", headers=AUTH)
    assert early.status_code == 404 and early.json()["error"]["code"] == "video_not_ready"
    assert (await videos.delete(created.id)).deleted
    assert runtime.store.get_task(created.id) is None
