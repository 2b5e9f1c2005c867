"""The acceptance path of issue 17 as an Ark user walks it: the official synchronous `Ark` client, built the
documented way (`Ark(base_url=f"{server}/api/v3", api_key=...)`, nothing of ours injected), against a real
`refvid serve` subprocess over real HTTP."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest
from volcenginesdkarkruntime import Ark
from volcenginesdkarkruntime._exceptions import ArkBadRequestError, ArkNotFoundError

from tests.support.servers import KEY, Server
from tests.support.video_checks import assert_contract

pytestmark = pytest.mark.slow


def test_official_sdk_against_refvid_serve(refvid_server: Server, references: dict[str, str], tmp_path: Path) -> None:
    with Ark(base_url=f"{refvid_server.url}/api/v3", api_key=KEY) as client:
        walk_the_acceptance_path(client, references, tmp_path)


def walk_the_acceptance_path(client: Ark, references: dict[str, str], tmp_path: Path) -> None:
    tasks = client.content_generation.tasks
    created = tasks.create(model="dreamina-seedance-2-0-fast-260128", content=[
        {"type": "text", "text": "@Image1 meets @Image2 while @Audio1 plays"},
        {"type": "image_url", "image_url": {"url": references["image1"]}, "role": "reference_image"},
        {"type": "image_url", "image_url": {"url": references["image2"]}, "role": "reference_image"},
        {"type": "audio_url", "audio_url": {"url": references["audio"]}, "role": "reference_audio"},
    ], resolution="480p", ratio="1:1", duration=4, seed=7, generate_audio=True, watermark=False)
    deadline = time.monotonic() + 180
    task = tasks.get(task_id=created.id)
    while task.status in ("queued", "running") and time.monotonic() < deadline:
        time.sleep(0.3)
        task = tasks.get(task_id=created.id)
    assert task.status == "succeeded", task
    assert (task.seed, task.ratio, task.duration) == (7, "1:1", 4)
    video = httpx.get(task.content.video_url)  # no Authorization header
    assert video.status_code == 200
    (tmp_path / "out.mp4").write_bytes(video.content)
    assert_contract(tmp_path / "out.mp4", 640, 640, 4, has_audio=True)
    assert created.id in [item.id for item in tasks.list(status="succeeded").items]
    tasks.delete(task_id=created.id)
    with pytest.raises(ArkNotFoundError):
        tasks.get(task_id=created.id)
    with pytest.raises(ArkBadRequestError) as caught:
        tasks.create(model="dreamina-seedance-2-0-fast-260128", content=created_content(references), duration=3)
    assert (caught.value.code, caught.value.param) == ("InvalidParameter", "duration")


def created_content(references: dict[str, str]) -> list[dict[str, object]]:
    return [{"type": "text", "text": "@Image1"},
            {"type": "image_url", "image_url": {"url": references["image1"]}, "role": "reference_image"}]
