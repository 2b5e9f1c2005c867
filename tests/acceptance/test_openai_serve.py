"""The acceptance path of issue 24 as an OpenAI-SDK user walks it: the official synchronous `OpenAI` client,
built the documented way (`OpenAI(base_url=f"{server}/v1", api_key=...)`, nothing of ours injected), against
a real `refvid serve` subprocess over real HTTP, with references served on loopback."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from openai import BadRequestError, NotFoundError, OpenAI

from tests.support import media_factory as mf
from tests.support.servers import KEY, Server
from tests.support.video_checks import assert_contract

pytestmark = pytest.mark.slow
TEXT_MODEL = "seedance-2.0-fast-text-to-video"
SMALL: Any = "864x496"  # refvid's 480p 16:9, outside the SDK's Sora literals (its types); the wire takes any string


def test_official_sdk_against_refvid_serve(refvid_server: Server, media_server: tuple[str, Path],
                                           tmp_path: Path) -> None:
    base, folder = media_server
    mf.make_image(folder / "street.png", 640, 480, seed=5)
    with OpenAI(base_url=f"{refvid_server.url}/v1", api_key=KEY) as client:
        videos = client.videos
        created = videos.create(model=TEXT_MODEL, prompt="slow dolly in on a harbour at dawn", seconds="4",
                                size="1280x720")
        assert (created.status, created.model, created.size, created.seconds) == ("queued", TEXT_MODEL,
                                                                                   "1280x720", "4")
        deadline = time.monotonic() + 180
        video = videos.retrieve(created.id)
        while video.status in ("queued", "in_progress") and time.monotonic() < deadline:
            time.sleep(0.3)
            video = videos.retrieve(created.id)
        assert video.status == "completed", video
        made = video.model_extra or {}  # refvid's MadeBy fields, kept by the SDK as extras
        assert (made["engine"], made["placeholder"]) == ("compositor", True), made
        (tmp_path / "text.mp4").write_bytes(videos.download_content(created.id).content)
        assert_contract(tmp_path / "text.mp4", 1280, 720, 4, has_audio=True)

        with_refs = videos.create_and_poll(
            prompt="@Image2 crosses the street", seconds="4", size=SMALL, input_reference=folder / "street.png",
            extra_body={"image_urls": [f"{base}/street.png"], "generate_audio": False})
        assert with_refs.status == "completed", with_refs
        assert with_refs.prompt == "@Image1 @Image2 crosses the street"
        assert with_refs.model == "seedance-2.0-reference-to-video"  # the default, with references
        (tmp_path / "refs.mp4").write_bytes(videos.download_content(with_refs.id).content)
        assert_contract(tmp_path / "refs.mp4", 864, 496, 4, has_audio=False)

        listed = videos.list(limit=1)
        assert [v.id for v in listed.data] == [with_refs.id] and listed.has_more
        foxapi = httpx.get(f"{refvid_server.url}/v1/tasks/{created.id}", headers={"Authorization": f"Bearer {KEY}"})
        assert foxapi.json()["status"] == "completed"
        assert videos.delete(created.id).deleted
        with pytest.raises(NotFoundError):
            videos.retrieve(created.id)
        with pytest.raises(BadRequestError) as caught:
            videos.create(model="sora-2", prompt="x", seconds="4", size="1280x720")
        assert caught.value.body["param"] == "model" and TEXT_MODEL in caught.value.body["message"]  # type: ignore[index]
