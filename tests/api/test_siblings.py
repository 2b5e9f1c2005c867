"""FoxAPI's sibling models through the API: text-to-video and image-to-video take their own fields (others are
a 422 naming the field), are listed with what they accept, and complete on the compositor with a real
in-process worker; image-to-video's first and last decoded frames are the client's pictures."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from refvid import catalog
from refvid.config import Settings
from refvid.contract import (
    FAST_IMAGE_MODEL,
    FAST_REFERENCE_MODEL,
    FAST_TEXT_MODEL,
    IMAGE_MODEL,
    TEXT_MODEL,
)
from refvid.engines import registry
from refvid.engines.base import Capabilities
from refvid.engines.compositor.first_last import load_rgb
from refvid.engines.compositor.framing import fit_frame
from refvid.engines.registry import model_offers
from refvid.worker.supervisor import Worker
from tests.support import media_factory as mf
from tests.support.compositor import decode_frames
from tests.support.video_checks import assert_contract
from tests.support.waiting import wait_for

COMMON = {"resolution": "480p", "duration": 4, "generate_audio": False}


@pytest.fixture
def frames(media_server: tuple[str, Path]) -> tuple[str, Path]:
    base, folder = media_server
    mf.write_image(folder / "first.png", mf.textured_rgb(640, 480, seed=1, tint=(210, 70, 40)))
    mf.write_image(folder / "last.jpg", mf.textured_rgb(800, 600, seed=2, tint=(40, 90, 220)))
    return base, folder


async def create(api: httpx.AsyncClient, **body: Any) -> httpx.Response:
    return await api.post("/v1/videos/generations", json={**COMMON, **body})


async def test_models_list_the_siblings_with_what_they_accept(api: httpx.AsyncClient) -> None:
    data = {m["id"]: m for m in (await api.get("/v1/models")).json()["data"]}
    assert set(data) == set(catalog.active())
    assert (data[TEXT_MODEL]["mode"], data[TEXT_MODEL]["required"]) == ("text", ["prompt"])
    assert "image_urls" not in data[TEXT_MODEL]["accepts"] and "seed" in data[TEXT_MODEL]["accepts"]
    assert data[FAST_IMAGE_MODEL]["required"] == ["image_url"]
    assert {"end_image_url", "prompt"} <= set(data[FAST_IMAGE_MODEL]["accepts"])
    reference = data[FAST_REFERENCE_MODEL]
    assert reference["mode"] == "reference" and "image_url" not in reference["accepts"]
    assert data[IMAGE_MODEL]["engine"] == "compositor" and "1080p" not in data[FAST_TEXT_MODEL]["resolutions"]


@pytest.mark.parametrize(("body", "code", "param"), [
    ({"model": TEXT_MODEL, "prompt": "a sea", "image_urls": ["https://example.com/a.png"]},
     "unsupported_parameter", "image_urls"),
    ({"model": FAST_TEXT_MODEL, "prompt": "a sea", "audio_urls": ["https://example.com/a.mp3"]},
     "unsupported_parameter", "audio_urls"),
    ({"model": TEXT_MODEL, "prompt": "a sea", "image_url": "https://example.com/a.png"},
     "unsupported_parameter", "image_url"),
    ({"model": TEXT_MODEL}, "missing_required_parameter", "prompt"),
    ({"model": IMAGE_MODEL, "prompt": "a sea"}, "missing_required_parameter", "image_url"),
    ({"model": IMAGE_MODEL, "image_url": "https://example.com/a.png", "video_urls": ["https://example.com/v.mp4"]},
     "unsupported_parameter", "video_urls"),
    ({"model": IMAGE_MODEL, "image_url": "ftp://example.com/a.png"}, "invalid_image_url", "image_url"),
    ({"model": FAST_IMAGE_MODEL, "image_url": "https://example.com/a.png", "end_image_url": "nope"},
     "invalid_end_image_url", "end_image_url"),
    ({"model": FAST_REFERENCE_MODEL, "prompt": "@Image1", "image_urls": ["https://example.com/a.png"],
      "image_url": "https://example.com/a.png"}, "unsupported_parameter", "image_url"),
    ({"model": FAST_REFERENCE_MODEL, "prompt": "x", "image_urls": ["https://example.com/a.png"],
      "end_image_url": "https://example.com/b.png"}, "unsupported_parameter", "end_image_url"),
    ({"model": IMAGE_MODEL, "image_url": "https://example.com/a.png", "prompt": "like @Image1"},
     "invalid_reference_mention", "prompt"),
])
async def test_fields_of_another_mode_are_a_422_naming_them(api: httpx.AsyncClient, body: dict[str, Any],
                                                            code: str, param: str) -> None:
    response = await create(api, **body)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert (error["code"], error["param"]) == (code, param), error
    assert param in error["message"]


def test_an_engine_without_the_mode_is_not_offered_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An engine serving reference-to-video only (a plugin that has not learnt the siblings; every built-in
    engine now serves all three modes): siblings routed there are not offered (422 at submit)."""
    only_reference = Capabilities(name="refonly", factory="nowhere:none", resolutions=("480p",), supports_audio=False)
    monkeypatch.setattr(registry, "engines", lambda: {"refonly": only_reference})
    routes = ",".join(f"{model}=refonly" for model in catalog.active())
    offers = model_offers(Settings(data_dir=tmp_path, routes=routes))
    assert set(offers) == {m.id for m in catalog.active().values() if m.mode == "reference"}


async def test_text_to_video_completes_with_a_conformant_mp4(api: httpx.AsyncClient, worker: Worker,
                                                             tmp_path: Path) -> None:
    created = await create(api, model=FAST_TEXT_MODEL, prompt="a calm ocean at sunset, slow pan left",
                           ratio="9:16", seed=11, generate_audio=True)
    assert created.status_code == 200, created.text
    assert created.json()["model"] == FAST_TEXT_MODEL
    task = await wait_for(api, created.json()["id"], {"completed", "failed"})
    assert task["status"] == "completed", task
    assert task["results"][0]["seed"] == 11
    video = await api.get(task["results"][0]["url"], headers={"Authorization": ""})
    (tmp_path / "t2v.mp4").write_bytes(video.content)
    assert_contract(tmp_path / "t2v.mp4", 496, 864, 4, has_audio=True)


async def test_image_to_video_lands_on_the_first_and_last_frames(api: httpx.AsyncClient, worker: Worker,
                                                                 frames: tuple[str, Path], tmp_path: Path) -> None:
    base, folder = frames
    created = await create(api, model=IMAGE_MODEL, image_url=f"{base}/first.png", end_image_url=f"{base}/last.jpg",
                           prompt="zoom in", ratio="adaptive")
    assert created.status_code == 200, created.text
    task = await wait_for(api, created.json()["id"], {"completed", "failed"})
    assert task["status"] == "completed", task
    result = task["results"][0]
    assert (result["width"], result["height"]) == (752, 560)  # adaptive: the first frame's ratio (4:3)
    video = await api.get(result["url"], headers={"Authorization": ""})
    (tmp_path / "i2v.mp4").write_bytes(video.content)
    assert_contract(tmp_path / "i2v.mp4", 752, 560, 4, has_audio=False)
    decoded = decode_frames(tmp_path / "i2v.mp4")
    for got, picture in ((decoded[0], "first.png"), (decoded[-1], "last.jpg")):
        want = fit_frame(load_rgb(folder / picture), 752, 560)
        assert float(np.mean(np.abs(got.astype(np.int16) - want.astype(np.int16)))) < 6.0, picture


async def test_a_broken_end_frame_fails_the_task_naming_it(api: httpx.AsyncClient, worker: Worker,
                                                           frames: tuple[str, Path]) -> None:
    base, folder = frames
    mf.make_image(folder / "tiny.png", 100, 100)
    created = await create(api, model=FAST_IMAGE_MODEL, image_url=f"{base}/first.png",
                           end_image_url=f"{base}/tiny.png")
    task = await wait_for(api, created.json()["id"], {"completed", "failed"})
    assert task["status"] == "failed" and task["error"]["code"] == "reference_invalid", task
    assert task["error"]["message"].startswith("end_image_url"), task
