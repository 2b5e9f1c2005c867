"""FoxAPI's sibling models against `refvid serve` as a real subprocess: a text-to-video and an image-to-video
task complete with conformant MP4s, and image-to-video lands on the client's first and last frames."""

from __future__ import annotations

from pathlib import Path

import httpx
import numpy as np
import pytest

from refvid.contract import FAST_IMAGE_MODEL, TEXT_MODEL
from refvid.engines.compositor.first_last import load_rgb
from refvid.engines.compositor.framing import fit_frame
from tests.support import media_factory as mf
from tests.support.compositor import decode_frames
from tests.support.servers import KEY, Server, wait_terminal
from tests.support.video_checks import assert_contract

pytestmark = pytest.mark.slow


def test_text_and_image_to_video_complete(refvid_server: Server, media_server: tuple[str, Path],
                                          tmp_path: Path) -> None:
    base, folder = media_server
    mf.write_image(folder / "first.png", mf.textured_rgb(600, 800, seed=5, tint=(220, 180, 40)))
    mf.write_image(folder / "last.png", mf.textured_rgb(600, 800, seed=6, tint=(30, 160, 90)))
    bodies = {
        "t2v": {"model": TEXT_MODEL, "prompt": "a neon city at night, energetic, orbit", "resolution": "480p",
                "ratio": "16:9", "duration": 4},
        "i2v": {"model": FAST_IMAGE_MODEL, "image_url": f"{base}/first.png", "end_image_url": f"{base}/last.png",
                "resolution": "480p", "duration": 4, "generate_audio": False},
    }
    with httpx.Client(base_url=refvid_server.url, headers={"Authorization": f"Bearer {KEY}"}, timeout=30) as client:
        ids = {}
        for name, body in bodies.items():
            created = client.post("/v1/videos/generations", json=body)
            assert created.status_code == 200, created.text
            ids[name] = created.json()["id"]
        outputs = {}
        for name, task_id in ids.items():
            task = wait_terminal(client, task_id)
            assert task["status"] == "completed", task
            video = client.get(task["results"][0]["url"], headers={"Authorization": ""})
            outputs[name] = tmp_path / f"{name}.mp4"
            outputs[name].write_bytes(video.content)
    assert_contract(outputs["t2v"], 864, 496, 4, has_audio=True)
    assert_contract(outputs["i2v"], 560, 752, 4, has_audio=False)  # adaptive: the 3:4 first frame
    decoded = decode_frames(outputs["i2v"])
    for got, name in ((decoded[0], "first.png"), (decoded[-1], "last.png")):
        want = fit_frame(load_rgb(folder / name), 560, 752)
        assert float(np.mean(np.abs(got.astype(np.int16) - want.astype(np.int16)))) < 6.0, name
