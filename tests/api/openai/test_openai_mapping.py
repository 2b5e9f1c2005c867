"""How a `/v1/videos` request becomes a TaskSpec and a task becomes a video object: the SDK's flattened form
folded back, sizes from the pixel-size table, the default model per inputs, `input_reference` as @Image1 or
as the first frame, every stored status mapped, the poll interval bounded."""

from __future__ import annotations

from typing import Any

import pytest

from refvid.api.openai.form import fold_form, parse_request
from refvid.api.openai.mapping import UPLOAD_PLACEHOLDER, map_create
from refvid.api.openai.present import STATUS, poll_after_ms
from refvid.config import Settings
from refvid.contract import OPENAI_STATUSES, RATIOS, SIZES, sizes_of
from refvid.engines.registry import model_offers
from refvid.tasks.model import TaskSpec, TaskStatus


def spec_of(settings: Settings, file_kind: Any = None, **body: Any) -> TaskSpec:
    return map_create(parse_request(body), model_offers(settings), file_kind).spec


def test_the_sdk_form_folds_back_into_json() -> None:
    pairs = [("prompt", "p"), ("image_urls[]", "a"), ("image_urls[]", "b"), ("audio_urls", "c"),
             ("input_reference[image_url]", "d"), ("seed", "7"), ("generate_audio", "false"), ("seconds", "8"),
             ("video_urls[0]", "e")]
    assert fold_form(pairs) == {"prompt": "p", "image_urls": ["a", "b"], "audio_urls": ["c"], "seconds": "8",
                                "input_reference": {"image_url": "d"}, "seed": 7, "generate_audio": False,
                                "video_urls": ["e"]}
    assert fold_form([("seed", "soon"), ("generate_audio", "maybe")]) == {"seed": "soon", "generate_audio": "maybe"}


def test_every_size_of_the_table_maps_back_to_its_resolution_and_ratio() -> None:
    sizes = sizes_of(tuple(SIZES))
    assert len(sizes) == len(SIZES) * len(RATIOS)
    for size, (resolution, ratio) in sizes.items():
        assert size == "{}x{}".format(*SIZES[resolution][ratio])
    assert sizes["1280x720"] == ("720p", "16:9") and sizes["720x1280"] == ("720p", "9:16")


def test_every_stored_status_has_a_video_status() -> None:
    assert set(STATUS) == set(TaskStatus) and set(STATUS.values()) == set(OPENAI_STATUSES)


@pytest.mark.parametrize(("estimated_s", "ms"), [(0, 500), (3, 500), (20, 2000), (600, 5000)])
def test_the_poll_interval_is_a_tenth_of_the_time_left_within_bounds(estimated_s: float, ms: int) -> None:
    assert poll_after_ms(estimated_s) == ms


def test_the_default_model_follows_the_inputs(settings: Settings) -> None:
    prompt_only = spec_of(settings, prompt="waves")
    assert (prompt_only.model, prompt_only.duration, prompt_only.resolution, prompt_only.ratio) == \
        ("seedance-2.0-text-to-video", 4, "720p", "adaptive")
    with_refs = spec_of(settings, prompt="waves", size="1280x720", image_urls=["https://example.com/a.png"])
    assert (with_refs.model, with_refs.ratio, with_refs.dialect) == ("seedance-2.0-reference-to-video", "16:9",
                                                                    "openai")


def test_input_reference_is_image1_or_the_first_frame(settings: Settings) -> None:
    ref = spec_of(settings, "image", prompt="then @Image2", image_urls=["https://example.com/b.png"])
    assert ref.image_urls == (UPLOAD_PLACEHOLDER, "https://example.com/b.png")
    assert ref.prompt == "@Image1 then @Image2"
    named = spec_of(settings, prompt="@Image1 dances", input_reference={"image_url": "https://example.com/a.png"})
    assert (named.prompt, named.image_urls) == ("@Image1 dances", ("https://example.com/a.png",))
    video = spec_of(settings, "video", prompt="@Image1 moves like this", image_urls=["https://example.com/b.png"])
    assert video.video_urls == (UPLOAD_PLACEHOLDER,) and video.prompt == "@Video1 @Image1 moves like this"
    frame = spec_of(settings, "image", prompt="waves", model="seedance-2.0-fast-image-to-video")
    assert (frame.image_url, frame.image_urls, frame.prompt) == (UPLOAD_PLACEHOLDER, (), "waves")
