"""TaskSpec's image-to-video frames survive the store's JSON and rows written before they existed still load."""

from __future__ import annotations

from refvid.tasks.model import TaskSpec


def test_frames_round_trip_and_old_rows_load_with_defaults() -> None:
    spec = TaskSpec(model="seedance-2.0-image-to-video", prompt="", image_url="https://h/a.png",
                    end_image_url="https://h/b.png")
    assert TaskSpec.from_dict(spec.to_dict()) == spec
    assert spec.frame_urls == ("https://h/a.png", "https://h/b.png")
    old = {"model": "seedance-2.0-reference-to-video", "prompt": "@Image1", "image_urls": ["https://h/a.png"]}
    loaded = TaskSpec.from_dict(old)
    assert (loaded.image_url, loaded.end_image_url, loaded.frame_urls) == (None, None, ())
    assert TaskSpec(model="m", prompt="p", image_url="https://h/a.png").frame_urls == ("https://h/a.png",)
