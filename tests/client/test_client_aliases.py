"""`create` takes the wire's own names (`image_urls=`, `video_urls=`, `audio_urls=`) beside `images=` etc.,
so code written from the API docs works unchanged; giving one kind under both names is refused."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from refvid.client import AsyncClient, Client
from tests.support import media_factory as mf

PENDING = {"id": "task-unified-1-abc", "object": "video.generation.task", "model": "seedance-2.0-reference-to-video",
           "status": "pending", "progress": 0, "created": 1, "type": "video"}


def recording(bodies: list[dict[str, Any]]) -> httpx.MockTransport:
    """Answers uploads with a file URL and creates with a pending task, keeping each create body."""
    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/files/upload/stream":
            return httpx.Response(200, json={"id": "file-1", "url": "http://srv/v1/files/file-1/a.png",
                                             "filename": "a.png", "size": 3, "created": 1})
        bodies.append(json.loads(request.content))
        return httpx.Response(200, json=PENDING)
    return httpx.MockTransport(handle)


def test_wire_names_are_sent_like_the_python_names(tmp_path: Path) -> None:
    image = mf.make_image(tmp_path / "a.png", 64, 48)
    bodies: list[dict[str, Any]] = []
    with Client("http://srv", "k", transport=recording(bodies)) as client:
        client.create("@Image1 @Video1 @Audio1", image_urls=[image], video_urls=["https://example.com/v.mp4"],
                      audio_urls=["https://example.com/a.mp3"])
        client.create("@Image1 @Video1 @Audio1", images=[image], videos=["https://example.com/v.mp4"],
                      audios=["https://example.com/a.mp3"])
    assert bodies[0] == bodies[1]
    assert bodies[0]["image_urls"] == ["http://srv/v1/files/file-1/a.png"]  # a local path is uploaded either way
    assert bodies[0]["video_urls"] == ["https://example.com/v.mp4"]
    assert bodies[0]["audio_urls"] == ["https://example.com/a.mp3"]


async def test_names_mix_across_kinds_and_none_are_left_out() -> None:
    bodies: list[dict[str, Any]] = []
    async with AsyncClient("http://srv", "k", transport=recording(bodies)) as client:
        await client.create("@Image1 @Video1", images=["https://example.com/a.png"],
                            video_urls=["https://example.com/v.mp4"])
    assert bodies[0]["image_urls"] == ["https://example.com/a.png"]
    assert bodies[0]["video_urls"] == ["https://example.com/v.mp4"]
    assert "audio_urls" not in bodies[0]


@pytest.mark.parametrize(("short", "wire"), [("images", "image_urls"), ("videos", "video_urls"),
                                             ("audios", "audio_urls")])
def test_both_names_of_one_kind_are_refused_before_sending(short: str, wire: str) -> None:
    bodies: list[dict[str, Any]] = []
    both: dict[str, Any] = {short: ["https://example.com/a"], wire: ["https://example.com/b"]}
    with Client("http://srv", "k", transport=recording(bodies)) as client, \
            pytest.raises(TypeError, match=f"both {short}= and {wire}="):
        client.create("@Image1", **both)
    assert bodies == []


async def test_a_single_string_is_refused_not_split_into_characters() -> None:
    async with AsyncClient("http://srv", "k", transport=recording([])) as client:
        with pytest.raises(TypeError, match="takes a list"):
            await client.create("@Image1", image_urls="https://example.com/a.png")  # a str is a Sequence too
