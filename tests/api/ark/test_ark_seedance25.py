"""Seedance 2.5 through the official Ark SDK on the CPU compositor, limits from the model catalog: 30 images
and 25 s render a conformant 25 s MP4, 31 images are refused naming the limit, audio-only references render
(the audio's spectrum shot) on 2.5 and stay refused on 2.0."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from volcenginesdkarkruntime import AsyncArk
from volcenginesdkarkruntime._exceptions import ArkAPIStatusError

from refvid.worker.supervisor import Worker
from tests.api.ark.conftest import data_url
from tests.api.ark.test_ark_sdk import poll
from tests.support import media_factory as mf
from tests.support.video_checks import assert_contract

SEEDANCE_25 = "dreamina-seedance-2-5-260628"
SEEDANCE_20 = "dreamina-seedance-2-0-260128"


@pytest.fixture(scope="module")
def thirty_one_images(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    folder = tmp_path_factory.mktemp("images")
    return [data_url(mf.make_image(folder / f"{i}.png", 320, 300, seed=i), "image/png") for i in range(31)]


def images(urls: list[str]) -> list[dict[str, Any]]:
    return [{"type": "image_url", "image_url": {"url": url}, "role": "reference_image"} for url in urls]


def audio(tmp_path: Path) -> dict[str, Any]:
    url = data_url(mf.make_wav(tmp_path / "beat.wav", seconds=3.0), "audio/wav")
    return {"type": "audio_url", "audio_url": {"url": url}, "role": "reference_audio"}


async def test_thirty_images_and_25_seconds(ark: AsyncArk, http: httpx.AsyncClient, worker: Worker,
                                           thirty_one_images: list[str], tmp_path: Path) -> None:
    created = await ark.content_generation.tasks.create(
        model=SEEDANCE_25, content=[{"type": "text", "text": "@Image1 to @Image30, a slow tour"},
                                    *images(thirty_one_images[:30])],
        resolution="480p", ratio="16:9", duration=25, generate_audio=False, seed=7)
    task = await poll(ark, created.id, timeout_s=400)
    assert task.status == "succeeded", task
    assert (task.model, task.duration, task.resolution) == (SEEDANCE_25, 25, "480p")
    video = await http.get(task.content.video_url)
    (tmp_path / "out.mp4").write_bytes(video.content)
    assert_contract(tmp_path / "out.mp4", 864, 496, 25, has_audio=False)


async def test_thirty_one_images_name_the_limit(ark: AsyncArk, thirty_one_images: list[str]) -> None:
    with pytest.raises(ArkAPIStatusError) as caught:
        await ark.content_generation.tasks.create(
            model=SEEDANCE_25, content=[{"type": "text", "text": "a tour"}, *images(thirty_one_images)],
            resolution="480p", duration=5)
    assert caught.value.code == "InvalidParameter"
    assert "31 entries; seedance-2.5-reference-to-video takes at most 30" in caught.value.message


async def test_audio_only_renders_on_25_and_is_refused_on_20(ark: AsyncArk, http: httpx.AsyncClient,
                                                             worker: Worker, tmp_path: Path) -> None:
    content = [{"type": "text", "text": "neon pulses to @Audio1"}, audio(tmp_path)]
    with pytest.raises(ArkAPIStatusError) as caught:
        await ark.content_generation.tasks.create(model=SEEDANCE_20, content=content, resolution="480p", duration=4)
    assert caught.value.code == "MissingParameter" and "audio" in caught.value.message

    created = await ark.content_generation.tasks.create(model=SEEDANCE_25, content=content, resolution="480p",
                                                        ratio="16:9", duration=4, generate_audio=True)
    task = await poll(ark, created.id)
    assert task.status == "succeeded", task
    video = await http.get(task.content.video_url)
    (tmp_path / "out.mp4").write_bytes(video.content)
    assert_contract(tmp_path / "out.mp4", 864, 496, 4, has_audio=True)
