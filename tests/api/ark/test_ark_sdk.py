"""The Ark dialect driven by the official SDK (`volcengine-ark-runtime`'s AsyncArk, unmodified) against the
real app and a real in-process worker with the default CPU compositor: create with two reference images and
a reference audio, poll to succeeded, download without auth, list, delete; and one task store under both
dialects."""

from __future__ import annotations

import asyncio
import io
import time
from pathlib import Path
from typing import Any

import av
import httpx
import numpy as np
import pytest
from PIL import Image
from volcenginesdkarkruntime import AsyncArk
from volcenginesdkarkruntime._exceptions import ArkNotFoundError
from volcenginesdkarkruntime.types.content_generation.content_generation_task import ContentGenerationTask

from refvid.worker.supervisor import Worker
from tests.support.keys import API_KEY
from tests.support.video_checks import assert_contract

FAST = "dreamina-seedance-2-0-fast-260128"
AUTH = {"Authorization": f"Bearer {API_KEY}"}


def content(refs: dict[str, str], text: str = "@Image1 walks, then @Image2, to the beat of @Audio1") -> list[Any]:
    return [{"type": "text", "text": text},
            {"type": "image_url", "image_url": {"url": refs["image1"]}, "role": "reference_image"},
            {"type": "image_url", "image_url": {"url": refs["image2"]}, "role": "reference_image"},
            {"type": "audio_url", "audio_url": {"url": refs["audio"]}, "role": "reference_audio"}]


async def poll(ark: AsyncArk, task_id: str, timeout_s: float = 180) -> ContentGenerationTask:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        task = await ark.content_generation.tasks.get(task_id=task_id)
        if task.status in ("succeeded", "failed", "cancelled", "expired"):
            return task
        await asyncio.sleep(0.2)
    raise AssertionError(f"task {task_id} did not finish: {task}")


def last_decoded_frame(path: Path) -> np.ndarray:
    with av.open(str(path)) as container:
        frames = [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]
    return frames[-1]


async def test_create_poll_download_list_delete(ark: AsyncArk, http: httpx.AsyncClient, worker: Worker,
                                                references: dict[str, str], tmp_path: Path) -> None:
    created = await ark.content_generation.tasks.create(
        model=FAST, content=content(references), resolution="480p", ratio="16:9", duration=4, seed=4242,
        generate_audio=True, return_last_frame=True, watermark=True, camera_fixed=False)
    task = await poll(ark, created.id)
    assert task.status == "succeeded", task
    assert (task.model, task.seed, task.resolution, task.ratio, task.duration) == (FAST, 4242, "480p", "16:9", 4)
    assert (task.framespersecond, task.generate_audio, task.error) == (24, True, None)
    assert task.usage.completion_tokens == task.usage.total_tokens == 864 * 496 * 4 * 24 // 1024
    assert task.created_at <= task.updated_at <= time.time() + 1

    video = await http.get(task.content.video_url)  # signed: no Authorization header
    assert video.status_code == 200, video.text
    (tmp_path / "out.mp4").write_bytes(video.content)
    assert_contract(tmp_path / "out.mp4", 864, 496, 4, has_audio=True)
    frame = await http.get(task.content.last_frame_url)
    assert frame.status_code == 200 and frame.headers["content-type"] == "image/png", frame.text
    png = np.asarray(Image.open(io.BytesIO(frame.content)).convert("RGB"))
    assert np.array_equal(png, last_decoded_frame(tmp_path / "out.mp4"))

    listed = await ark.content_generation.tasks.list(status="succeeded")
    assert created.id in [item.id for item in listed.items] and listed.total >= 1
    assert created.id not in [item.id for item in (await ark.content_generation.tasks.list(status="queued")).items]
    foxapi = (await http.get(f"/v1/tasks/{created.id}", headers=AUTH)).json()  # the other dialect sees it
    assert foxapi["status"] == "completed" and foxapi["model"] == "seedance-2.0-fast-reference-to-video"
    assert foxapi["results"][0]["seed"] == 4242

    await ark.content_generation.tasks.delete(task_id=created.id)
    with pytest.raises(ArkNotFoundError) as caught:
        await ark.content_generation.tasks.get(task_id=created.id)
    assert caught.value.code == "ResourceNotFound"
    assert (await http.get(task.content.video_url)).status_code == 404  # the files went with it


async def test_a_foxapi_task_through_ark_and_an_ark_task_through_foxapi(
        ark: AsyncArk, http: httpx.AsyncClient, references: dict[str, str]) -> None:
    body = {"model": "seedance-2.0-reference-to-video", "prompt": "@Image1 at dusk",
            "image_urls": [references["image1"]], "resolution": "720p", "ratio": "9:16", "duration": 6}
    fox_id = (await http.post("/v1/videos/generations", json=body, headers=AUTH)).json()["id"]
    seen = await ark.content_generation.tasks.get(task_id=fox_id)
    assert (seen.id, seen.model, seen.status) == (fox_id, "seedance-2.0-reference-to-video", "queued")
    assert (seen.resolution, seen.ratio, seen.duration, seen.content) == ("720p", "9:16", 6, None)

    created = await ark.content_generation.tasks.create(model="doubao-seedance-2-0-260128",
                                                        content=content(references), duration=5)
    fox = (await http.get(f"/v1/tasks/{created.id}", headers=AUTH)).json()
    assert (fox["status"], fox["model"]) == ("pending", "seedance-2.0-reference-to-video")
    assert (await ark.content_generation.tasks.get(task_id=created.id)).model == "doubao-seedance-2-0-260128"

    both = await ark.content_generation.tasks.list(task_ids=[fox_id, created.id, "task-unified-0-missing0"])
    assert [item.id for item in both.items] == [created.id, fox_id] and both.total == 2
    by_model = await ark.content_generation.tasks.list(model="doubao-seedance-2-0-260128")
    assert [item.id for item in by_model.items] == [created.id]
    paged = await ark.content_generation.tasks.list(page_num=2, page_size=1)
    assert [item.id for item in paged.items] == [fox_id] and paged.total == 2


async def test_delete_cancels_a_queued_task_then_refuses_as_ark_does(
        ark: AsyncArk, http: httpx.AsyncClient, references: dict[str, str]) -> None:
    created = await ark.content_generation.tasks.create(model=FAST, content=content(references))
    await ark.content_generation.tasks.delete(task_id=created.id)
    assert (await ark.content_generation.tasks.get(task_id=created.id)).status == "cancelled"
    again = await http.delete(f"/api/v3/contents/generations/tasks/{created.id}", headers=AUTH)
    assert again.status_code == 400 and again.json()["error"]["code"] == "InvalidParameter"
    assert "cancelled" in again.json()["error"]["message"]
    other = await http.get(f"/api/v3/contents/generations/tasks/{created.id}",
                           headers={"Authorization": "Bearer other-key"})
    assert other.status_code == 404 and other.json()["error"]["code"] == "ResourceNotFound"
