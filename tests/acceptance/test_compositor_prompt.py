"""Issue 15 acceptance through `refvid serve`: the compositor obeys the prompt's camera and grade words.

One 1200×800 image served on loopback, no other reference, 4 s, 480p, a fixed seed; the MP4s are fetched
by their signed URLs and their decoded frames measured (phase correlation, feature matching, colour).
"""

from __future__ import annotations

from pathlib import Path

import httpx
import numpy as np
import pytest

from tests.support import media_factory as mf
from tests.support.frame_motion import decode_rgb, saturation, similarity, travel, warmth
from tests.support.servers import KEY, Server, wait_terminal

pytestmark = pytest.mark.slow

PROMPTS = {
    "pan left": "@Image1 pan left", "镜头向左平移": "@图片1 镜头向左平移",
    "pan right": "pan right, @Image1", "镜头向右平移": "镜头向右平移",
    "zoom in": "@Image1, zoom in", "镜头推近": "镜头推近", "zoom out": "zoom out", "镜头拉远": "@图像1 镜头拉远",
    "static": "static camera", "固定镜头": "固定镜头",
    "black and white": "black and white", "黑白": "黑白",
    "warm": "warm golden hour", "cold": "cold blue night",
    "butterflies": "@Image1 explodes into a thousand butterflies at dawn, slow motion",
    "morning": "@Image1, a quiet morning",
}


@pytest.fixture
def clips(refvid_server: Server, media_server: tuple[str, Path], tmp_path: Path) -> dict[str, list[np.ndarray]]:
    """Every prompt of `PROMPTS` rendered by the server, decoded."""
    base, folder = media_server
    mf.make_image(folder / "photo.png", 1200, 800, seed=15)
    out: dict[str, list[np.ndarray]] = {}
    with httpx.Client(base_url=refvid_server.url, headers={"Authorization": f"Bearer {KEY}"}, timeout=30) as client:
        ids = {}
        for name, prompt in PROMPTS.items():
            body = {"model": "seedance-2.0-reference-to-video", "prompt": prompt,
                    "image_urls": [f"{base}/photo.png"], "resolution": "480p", "ratio": "16:9", "duration": 4,
                    "seed": 7, "generate_audio": False}
            created = client.post("/v1/videos/generations", json=body)
            assert created.status_code == 200, created.text
            ids[name] = created.json()["id"]
        for name, task_id in ids.items():
            task = wait_terminal(client, task_id, timeout_s=300)
            assert task["status"] == "completed", task
            path = tmp_path / f"{len(out)}.mp4"
            path.write_bytes(httpx.get(task["results"][0]["url"], timeout=30).content)
            out[name] = decode_rgb(path)
    return out


def test_the_compositor_obeys_camera_and_grade_words(clips: dict[str, list[np.ndarray]]) -> None:
    for name in ("pan left", "镜头向左平移"):
        dx, _ = travel(clips[name][0], clips[name][-1])
        assert dx >= 20, name  # the camera turns left: the content moves right
    for name in ("pan right", "镜头向右平移"):
        dx, _ = travel(clips[name][0], clips[name][-1])
        assert dx <= -20, name
    for name in ("zoom in", "镜头推近"):
        assert similarity(clips[name][0], clips[name][-1])[0] >= 1.08, name
    for name in ("zoom out", "镜头拉远"):
        assert similarity(clips[name][0], clips[name][-1])[0] <= 1 / 1.08, name
    for name in ("static", "固定镜头"):
        dx, dy = travel(clips[name][0], clips[name][-1])
        assert abs(dx) < 0.5 and abs(dy) < 0.5, name
    for name in ("black and white", "黑白"):
        assert max(saturation(f) for f in clips[name][::24]) < 3, name
    assert warmth(clips["warm"][48]) > warmth(clips["cold"][48]) + 30
    assert not np.array_equal(clips["butterflies"][48], clips["morning"][48])
    same_language = [np.array_equal(a, b) for a, b in zip(clips["pan left"], clips["镜头向左平移"], strict=True)]
    assert all(same_language)  # one image, same move, same seed: the same pixels in either language
