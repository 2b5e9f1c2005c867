"""Ark's image-to-video and text-to-video through the official SDK: `first_frame` / `last_frame` roles on the
fast model map onto refvid's image-to-video task (its first and last decoded frames are those pictures), a
text-only content onto text-to-video; both complete on the compositor with a real in-process worker."""

from __future__ import annotations

import asyncio
import base64
import io
import time
from pathlib import Path

import httpx
import numpy as np
from PIL import Image
from volcenginesdkarkruntime import AsyncArk
from volcenginesdkarkruntime.types.content_generation.content_generation_task import ContentGenerationTask

from refvid.engines.compositor.framing import fit_frame
from refvid.worker.supervisor import Worker
from tests.support.compositor import decode_frames
from tests.support.keys import API_KEY
from tests.support.video_checks import assert_contract

FAST = "dreamina-seedance-2-0-fast-260128"
AUTH = {"Authorization": f"Bearer {API_KEY}"}


async def finished(ark: AsyncArk, task_id: str, timeout_s: float = 180) -> ContentGenerationTask:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        task = await ark.content_generation.tasks.get(task_id=task_id)
        if task.status in ("succeeded", "failed", "cancelled", "expired"):
            return task
        await asyncio.sleep(0.2)
    raise AssertionError(f"task {task_id} did not finish")


def picture(data_url: str) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(data_url.partition(",")[2]))).convert("RGB"))


async def test_first_and_last_frame_roles_on_the_fast_model(ark: AsyncArk, http: httpx.AsyncClient,
                                                            worker: Worker, references: dict[str, str],
                                                            tmp_path: Path) -> None:
    first, last = references["image1"], references["image2"]
    created = await ark.content_generation.tasks.create(model=FAST, content=[
        {"type": "text", "text": "slow push in"},
        {"type": "image_url", "image_url": {"url": first}, "role": "first_frame"},
        {"type": "image_url", "image_url": {"url": last}, "role": "last_frame"}],
        resolution="480p", ratio="adaptive", duration=4, generate_audio=False, seed=3)
    task = await finished(ark, created.id)
    assert task.status == "succeeded", task
    assert (task.model, task.ratio, task.seed) == (FAST, "4:3", 3)  # adaptive: the first frame's ratio
    video = await http.get(task.content.video_url)
    assert video.status_code == 200
    (tmp_path / "out.mp4").write_bytes(video.content)
    assert_contract(tmp_path / "out.mp4", 752, 560, 4, has_audio=False)
    decoded = decode_frames(tmp_path / "out.mp4")
    for got, source in ((decoded[0], first), (decoded[-1], last)):
        want = fit_frame(picture(source), 752, 560)
        assert float(np.mean(np.abs(got.astype(np.int16) - want.astype(np.int16)))) < 6.0
    fox = (await http.get(f"/v1/tasks/{created.id}", headers=AUTH)).json()
    assert fox["model"] == "seedance-2.0-fast-image-to-video"


async def test_a_text_only_content_is_text_to_video(ark: AsyncArk, http: httpx.AsyncClient,
                                                    worker: Worker) -> None:
    created = await ark.content_generation.tasks.create(
        model=FAST, content=[{"type": "text", "text": "snowy forest at dawn, slow pan right"}],
        resolution="480p", ratio="1:1", duration=4)
    task = await finished(ark, created.id)
    assert task.status == "succeeded", task
    assert (task.resolution, task.ratio, task.generate_audio) == ("480p", "1:1", True)
    # The SDK keeps the extension fields of `content` that say what the compositor made (a placeholder).
    extra = task.content.model_extra or {}
    assert (extra["engine"], extra["placeholder"]) == ("compositor", True) and "title card" in extra["made"]
    fox = (await http.get(f"/v1/tasks/{created.id}", headers=AUTH)).json()
    assert fox["model"] == "seedance-2.0-fast-text-to-video"
    assert {k: fox["results"][0][k] for k in extra} == extra  # the same three fields in both dialects
