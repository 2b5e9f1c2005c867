"""`output_format: mov` (Seedance 2.5) through the official Ark SDK (an untyped field: `extra_body`, as the SDK
passes it) and FoxAPI's extension field: a QuickTime MOV with the contract's H.264 + AAC streams, served as
`video.mov` with `video/quicktime`; a model without MOV is refused naming the field, the value and its
formats."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from volcenginesdkarkruntime import AsyncArk
from volcenginesdkarkruntime._exceptions import ArkAPIStatusError

from refvid.worker.supervisor import Worker
from tests.api.ark.test_ark_sdk import poll
from tests.support.keys import API_KEY
from tests.support.video_checks import assert_contract
from tests.support.waiting import wait_for

SEEDANCE_25 = "dreamina-seedance-2-5-260628"
AUTH = {"Authorization": f"Bearer {API_KEY}"}
DONE = {"completed", "failed"}


def assert_quicktime(path: Path, width: int, height: int, seconds: int, has_audio: bool) -> None:
    """A QuickTime file (its `ftyp` major brand is `qt  `, what FFmpeg's `mov` muxer writes; an MP4 says
    `isom`) holding the contract's streams."""
    assert path.read_bytes()[4:12] == b"ftypqt  "
    assert_contract(path, width, height, seconds, has_audio)


async def download(http: httpx.AsyncClient, url: str, path: Path) -> httpx.Response:
    head = await http.head(url)
    assert head.status_code == 200 and head.headers["content-type"] == "video/quicktime", head.headers
    response = await http.get(url)
    assert response.headers["content-type"] == "video/quicktime"
    assert 'filename="video.mov"' in response.headers["content-disposition"]
    path.write_bytes(response.content)
    return response


async def test_ark_sdk_mov(ark: AsyncArk, http: httpx.AsyncClient, worker: Worker, references: dict[str, str],
                           tmp_path: Path) -> None:
    created = await ark.content_generation.tasks.create(
        model=SEEDANCE_25, content=[{"type": "text", "text": "@Image1 at dusk, warm"},
                                    {"type": "image_url", "image_url": {"url": references["image1"]},
                                     "role": "reference_image"}],
        resolution="480p", ratio="16:9", duration=4, generate_audio=True, extra_body={"output_format": "mov"})
    task = await poll(ark, created.id)
    assert task.status == "succeeded", task
    assert urlsplit(task.content.video_url).path.endswith("/video.mov")
    raw = (await http.get(f"/api/v3/contents/generations/tasks/{created.id}", headers=AUTH)).json()
    assert raw["fileformat"] == "mov"
    await download(http, task.content.video_url, tmp_path / "out.mov")
    assert_quicktime(tmp_path / "out.mov", 864, 496, 4, has_audio=True)


async def test_foxapi_mov_and_the_default_mp4(http: httpx.AsyncClient, worker: Worker, references: dict[str, str],
                                              tmp_path: Path) -> None:
    body = {"model": "seedance-2.5-reference-to-video", "prompt": "@Image1 slowly", "image_urls":
            [references["image1"]], "resolution": "480p", "ratio": "1:1", "duration": 4, "generate_audio": False}
    mov_id = (await http.post("/v1/videos/generations", json={**body, "output_format": "mov"}, headers=AUTH)).json()
    mp4_id = (await http.post("/v1/videos/generations", json=body, headers=AUTH)).json()
    mov = await wait_for(http, mov_id["id"], DONE, headers=AUTH)
    url = mov["results"][0]["url"]
    assert mov["status"] == "completed" and urlsplit(url).path.endswith("/video.mov")
    await download(http, url, tmp_path / "out.mov")
    assert_quicktime(tmp_path / "out.mov", 640, 640, 4, has_audio=False)
    # The same signature on the other name is refused: a result is served under its own container's name.
    assert (await http.get(url.replace("/video.mov", "/video.mp4"))).status_code == 403

    mp4 = await wait_for(http, mp4_id["id"], DONE, headers=AUTH)
    got = await http.get(mp4["results"][0]["url"])
    assert got.headers["content-type"] == "video/mp4" and got.content[4:8] == b"ftyp" and got.content[8:12] != b"qt  "


@pytest.mark.parametrize("model", ["dreamina-seedance-2-0-260128", "seedance-2.0-reference-to-video"])
async def test_mov_on_a_model_without_it_names_the_field(ark: AsyncArk, http: httpx.AsyncClient,
                                                         references: dict[str, str], model: str) -> None:
    content = [{"type": "text", "text": "@Image1"},
               {"type": "image_url", "image_url": {"url": references["image1"]}, "role": "reference_image"}]
    with pytest.raises(ArkAPIStatusError) as caught:
        await ark.content_generation.tasks.create(model=model, content=content, extra_body={"output_format": "mov"})
    assert caught.value.status_code == 400 and caught.value.code == "InvalidParameter"
    assert "output_format mov is not available for seedance-2.0-reference-to-video; it makes mp4" in (
        caught.value.message)

    fox = await http.post("/v1/videos/generations", headers=AUTH, json={
        "model": "seedance-2.0-reference-to-video", "prompt": "@Image1", "image_urls": [references["image1"]],
        "output_format": "mov"})
    assert fox.status_code == 422 and fox.json()["error"]["param"] == "output_format"
    assert fox.json()["error"]["code"] == "invalid_output_format"
    bad = await http.post("/v1/videos/generations", headers=AUTH, json={
        "model": "seedance-2.5-reference-to-video", "prompt": "@Image1", "image_urls": [references["image1"]],
        "output_format": "webm"})
    assert bad.status_code == 422 and bad.json()["error"]["param"] == "output_format"
