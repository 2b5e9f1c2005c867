"""media/prompt_refs.py: @ImageN/@VideoN/@AudioN mentions (any case, Chinese forms) and what videos are for."""

from __future__ import annotations

import pytest

from refvid.media.prompt_refs import find_mentions, mention_order, mentioned, video_roles


def test_mentions_in_any_case_and_in_chinese() -> None:
    found = find_mentions("@Image2 then @image1, @VIDEO1 with @音频1 and @图像3 @视频2 @Audio12")
    assert [(m.kind, m.index) for m in found] == [("image", 1), ("image", 0), ("video", 0), ("audio", 0),
                                                  ("image", 2), ("video", 1), ("audio", 11)]
    assert found[0].start == 0 and found[0].end == len("@Image2")


def test_mention_order_puts_unmentioned_after_in_list_order() -> None:
    assert mention_order("@Image2 … then @Image1", "image", 3) == [1, 0, 2]
    assert mention_order("@图像3 然后 @图像1 再 @Image3", "image", 4) == [2, 0, 1, 3]
    assert mention_order("no mentions", "image", 2) == [0, 1]
    assert mention_order("@Image9 is out of range", "image", 2) == [0, 1]
    assert mention_order("", "audio", 0) == []
    assert mentioned("@Audio2 @audio1 @Audio2", "audio", 2) == [1, 0]


@pytest.mark.parametrize(("prompt", "roles"), [
    ("@Image1 with the camera motion of @Video1", ["motion"]),
    ("Follow the camera movement from @Video1. Show @Image1.", ["motion"]),
    ("参考@视频1的运镜，展示@图像1", ["motion"]),
    ("@Video1 of a busy street, then @Image1", ["content"]),
    ("@Image1 then @Video1", ["content"]),
    ("@Image1 only", ["motion"]),
    ("@Image1 with music on the soundtrack of @Video1", ["content"]),
])
def test_video_roles(prompt: str, roles: list[str]) -> None:
    assert video_roles(prompt, len(roles), have_images=True) == roles


def test_without_images_every_video_is_footage() -> None:
    assert video_roles("camera motion of @Video1", 2, have_images=False) == ["content", "content"]
