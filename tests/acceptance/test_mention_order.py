"""Issue 12's bug, through a real `refvid serve`: the compositor's shots follow the prompt's mentions exactly as
validation read them, in every form of the contract's grammar (`@图片N`, `@图像N`, `@imageN`, `@IMAGEN`).

Three one-colour images (red, green, blue) go in as data: URLs; the prompt names them 3, 1, 2; the MP4 that
comes back must show blue, then red, then green. The same words with a space before the number are plain
text, so that prompt keeps the list order (red, green, blue), which also shows the colour check can tell.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator
from pathlib import Path

import av
import httpx
import numpy as np
import pytest
from PIL import Image

from refvid.contract import REFERENCE_MODEL
from tests.support.servers import KEY, Server, env_for, wait_terminal

pytestmark = pytest.mark.slow

COLOURS = {"red": (220, 30, 30), "green": (30, 200, 30), "blue": (30, 30, 220)}
MENTIONED_ORDER = ["blue", "red", "green"]
PROMPTS = {
    "图片": ("镜头从 @图片3 开始，然后是 @图片1，最后是 @图片2", MENTIONED_ORDER),
    "图像": ("镜头从 @图像3 开始，然后是 @图像1，最后是 @图像2", MENTIONED_ORDER),
    "lower": ("Open on @image3, then @image1, and end on @image2", MENTIONED_ORDER),
    "upper": ("Open on @IMAGE3, then @IMAGE1, and end on @IMAGE2", MENTIONED_ORDER),
    # With a space these are plain text (spec §3.1): no mentions, so the shots keep the list order.
    "spaced": ("镜头从 @图片 3 开始，然后是 @Image 1，最后是 @image 2", ["red", "green", "blue"]),
}


def png_data_url(rgb: tuple[int, int, int]) -> str:
    buffer = io.BytesIO()
    Image.new("RGB", (640, 480), rgb).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def colour_runs(path: Path) -> list[str]:
    """The dominant colour of each decoded frame, consecutive repeats collapsed; frames where no colour
    clearly dominates (cross-fades) are skipped."""
    names, targets = list(COLOURS), np.array(list(COLOURS.values()), dtype=np.float32)
    runs: list[str] = []
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            mean = frame.to_ndarray(format="rgb24").reshape(-1, 3).mean(axis=0)
            distances = np.linalg.norm(targets - mean, axis=1)
            if distances.min() > 60:
                continue
            name = names[int(np.argmin(distances))]
            if not runs or runs[-1] != name:
                runs.append(name)
    return runs


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    running = Server(tmp_path_factory.mktemp("serve") / "data", env_for()).start()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def api(server: Server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {KEY}"}, timeout=60) as client:
        yield client


def request(prompt: str) -> dict[str, object]:
    return {"model": REFERENCE_MODEL, "prompt": prompt, "resolution": "480p", "ratio": "16:9", "duration": 4,
            "generate_audio": False, "image_urls": [png_data_url(rgb) for rgb in COLOURS.values()]}


def test_shots_follow_the_mentions_in_every_form(api: httpx.Client, tmp_path: Path) -> None:
    created = {}
    for form, (prompt, _) in PROMPTS.items():  # all queued first, so the worker renders them back to back
        response = api.post("/v1/videos/generations", json=request(prompt))
        assert response.status_code == 200, response.text
        created[form] = response.json()["id"]
    for form, task_id in created.items():
        task = wait_terminal(api, task_id, timeout_s=300)
        assert task["status"] == "completed", task
        video = httpx.get(task["results"][0]["url"], timeout=60)
        assert video.status_code == 200
        out = tmp_path / f"{task_id}.mp4"
        out.write_bytes(video.content)
        assert colour_runs(out) == PROMPTS[form][1], form


@pytest.mark.parametrize("prompt", ["@Image4 is not there", "@图片0 is not there",
                                    "@图片" + "9" * 4990, "@image" + "1" * 20 + " 然后 @Image1"])
def test_mentions_of_missing_images_are_422(api: httpx.Client, prompt: str) -> None:
    response = api.post("/v1/videos/generations", json=request(prompt))
    assert response.status_code == 422, response.text
    assert (response.json()["error"]["code"], response.json()["error"]["param"]) == (
        "invalid_reference_mention", "prompt")
