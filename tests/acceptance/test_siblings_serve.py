"""FoxAPI's sibling models against `refvid serve` as a real subprocess: a text-to-video and an image-to-video
task complete with conformant MP4s. Text-to-video is a title card and says so: its task object names the
engine and the placeholder, and its frames show the prompt's words. Image-to-video holds the first picture for
most of the clip, then moves briefly (never a long 50/50 double exposure) onto the last, landing on the
client's first and last frames."""

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
from tests.support.seen import picture_distance, text_likeness
from tests.support.servers import KEY, Server, wait_terminal
from tests.support.video_checks import assert_contract

pytestmark = pytest.mark.slow
TITLE = "a lighthouse at dusk, slow orbit"


def test_text_and_image_to_video_complete(refvid_server: Server, media_server: tuple[str, Path],
                                          tmp_path: Path) -> None:
    base, folder = media_server
    mf.write_image(folder / "first.png", mf.textured_rgb(600, 800, seed=5, tint=(220, 180, 40)))
    mf.write_image(folder / "last.png", mf.textured_rgb(600, 800, seed=6, tint=(30, 160, 90)))
    bodies = {
        "t2v": {"model": TEXT_MODEL, "prompt": TITLE, "resolution": "480p",
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
        outputs, tasks = {}, {}
        for name, task_id in ids.items():
            task = tasks[name] = wait_terminal(client, task_id)
            assert task["status"] == "completed", task
            video = client.get(task["results"][0]["url"], headers={"Authorization": ""})
            outputs[name] = tmp_path / f"{name}.mp4"
            outputs[name].write_bytes(video.content)
        models = {m["id"]: m for m in client.get("/v1/models").json()["data"]}
    assert_contract(outputs["t2v"], 864, 496, 4, has_audio=True)
    assert_contract(outputs["i2v"], 560, 752, 4, has_audio=False)  # adaptive: the 3:4 first frame

    card, shot = tasks["t2v"]["results"][0], tasks["i2v"]["results"][0]
    assert (card["engine"], card["placeholder"]) == ("compositor", True) and "title card" in card["made"]
    assert (shot["engine"], shot["placeholder"]) == ("compositor", False) and "camera move" in shot["made"]
    assert models[TEXT_MODEL]["placeholder"] and models[TEXT_MODEL]["makes"] == card["made"]
    assert not models[FAST_IMAGE_MODEL]["placeholder"] and models[FAST_IMAGE_MODEL]["makes"] == shot["made"]
    words = decode_frames(outputs["t2v"], stride=24)[1:]  # the words fade in over the first half second
    assert all(text_likeness(frame, TITLE) > 0.6 for frame in words)
    assert all(text_likeness(frame, "a harbour at noon, quick zoom in") < 0.4 for frame in words)

    decoded = decode_frames(outputs["i2v"])
    first, last = (fit_frame(load_rgb(folder / name), 560, 752) for name in ("first.png", "last.png"))
    for got, want in ((decoded[0], first), (decoded[-1], last)):
        assert float(np.mean(np.abs(got.astype(np.int16) - want.astype(np.int16)))) < 6.0
    apart = picture_distance(first, last)
    on_first = [picture_distance(f, first) < 0.3 * apart for f in decoded]
    on_last = [picture_distance(f, last) < 0.3 * apart for f in decoded]
    half_and_half = (first.astype(np.float32) + last) / 2
    blends = [picture_distance(f, half_and_half) < min(picture_distance(f, first), picture_distance(f, last))
              for f in decoded]
    assert all(on_first[: len(decoded) // 2])  # the first picture holds at least half the clip…
    assert on_last[-1] and all(on_last[on_last.index(True):])  # …then the last one, to the end
    assert sum(blends) <= 12  # any frame nearer a 50/50 blend than either picture: at most 0.5 s in all
