"""refvid.contract's one `@`-mention grammar: every form, the no-space rule, absurd numbers, and that each
reader of prompts (validation, prompt_refs, the diffusion and relay rewrites) goes through it."""

from __future__ import annotations

import pytest

from refvid import contract
from refvid.contract import MENTION_OUT_OF_RANGE, Mention, find_mentions, replace_mentions

FORMS = [
    ("@Image3", "image"), ("@image3", "image"), ("@IMAGE3", "image"), ("@iMaGe3", "image"),
    ("@图像3", "image"), ("@图片3", "image"),
    ("@Video3", "video"), ("@VIDEO3", "video"), ("@视频3", "video"),
    ("@Audio3", "audio"), ("@audio3", "audio"), ("@音频3", "audio"),
]


@pytest.mark.parametrize(("token", "kind"), FORMS)
def test_every_form_is_one_mention(token: str, kind: str) -> None:
    prompt = f"镜头从 {token} 开始"
    [mention] = find_mentions(prompt)
    assert (mention.kind, mention.number, mention.index, mention.text) == (kind, 3, 2, token)
    assert prompt[mention.start:mention.end] == token


@pytest.mark.parametrize("prompt", ["@Image 2", "@图片 2", "@video\t1", "@Audio\n1", "@图像　2", "@Image", "@图片",
                                    "Image2", "图片2", "me@example.com", "@Imagery2", "@ image2"])
def test_no_space_before_the_number_and_no_other_words(prompt: str) -> None:
    assert find_mentions(prompt) == []


def test_mentions_keep_prompt_order_duplicates_and_offsets() -> None:
    prompt = "镜头从 @图片3 开始，然后是 @图片1，最后是 @图片2; @Image3 again, @Video1, @音频2 and @Image0"
    found = find_mentions(prompt)
    assert [(m.kind, m.number) for m in found] == [("image", 3), ("image", 1), ("image", 2), ("image", 3),
                                                   ("video", 1), ("audio", 2), ("image", 0)]
    assert all(prompt[m.start:m.end] == m.text for m in found)
    assert found[-1].index == -1  # kept; callers reject it (validation) or skip it (engines)


def test_digits_run_to_the_end_of_the_number() -> None:
    assert [m.number for m in find_mentions("@Image12x @image007 @Image1@Image2")] == [12, 7, 1, 2]


@pytest.mark.parametrize("digits", [7, 100, 5000, 100_000])
def test_absurdly_long_numbers_are_out_of_range_not_converted(digits: int) -> None:
    prompt = "@Image" + "9" * digits + " and @图片" + "1" * digits
    found = find_mentions(prompt)
    assert [m.number for m in found] == [MENTION_OUT_OF_RANGE, MENTION_OUT_OF_RANGE]
    assert found[0].end - found[0].start == len("@Image") + digits
    assert max(contract.MAX_COUNT.values()) < MENTION_OUT_OF_RANGE


def test_replace_mentions_uses_the_same_grammar() -> None:
    def name(m: Mention) -> str:
        return f"<{m.kind}#{m.index}>"

    assert replace_mentions("@图片2 then @IMAGE1, not @Image 3, @视频1", name) == (
        "<image#1> then <image#0>, not @Image 3, <video#0>")


def test_every_reader_of_prompts_agrees_with_the_contract() -> None:
    """prompt_refs (compositor, soundtrack, diffusion order) and both engine rewrites see the same mentions."""
    from refvid.engines.relay.payload import rewrite_prompt as relay_rewrite
    from refvid.media.prompt_refs import find_mentions as engine_mentions
    from refvid.media.prompt_refs import mention_order

    prompt = "镜头从 @图片3 开始，然后是 @图像1，最后是 @IMAGE2, not @Image 1"
    assert [(m.kind, m.index) for m in engine_mentions(prompt)] == [("image", 2), ("image", 0), ("image", 1)]
    assert mention_order(prompt, "image", 3) == [2, 0, 1]
    assert relay_rewrite(prompt) == "镜头从 图片3 开始，然后是 图片1，最后是 Image 2, not @Image 1"


def test_the_diffusion_rewrite_agrees_with_the_contract() -> None:
    media = pytest.importorskip("refvid.engines.diffusion.media")  # needs OpenCV/PyAV, not torch
    text = media.rewrite_prompt("the @图片2 and a @image1, @Image 3", {"image": [1, 0]})
    assert text == "第一张参考图 and the second reference image, @Image 3"
