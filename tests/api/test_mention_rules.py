"""api/validation.py reads mentions with the contract's grammar and judges them against the request's lists,
and takes what a model offers from the `ModelOffer`s it is given (no engine import)."""

from __future__ import annotations

from typing import Any

import pytest

from refvid import contract
from refvid.api.schemas import CreateVideoRequest
from refvid.api.validation import validate_create
from refvid.errors import ValidationFailed

IMG = "https://example.com/a.png"
OFFERS = {
    contract.REFERENCE_MODEL: contract.ModelOffer(contract.REFERENCE_MODEL, "compositor", contract.RESOLUTIONS, True),
    contract.FAST_REFERENCE_MODEL: contract.ModelOffer(contract.FAST_REFERENCE_MODEL, "diffusion", ("480p",), False),
}


def request(prompt: str, **changes: Any) -> CreateVideoRequest:
    body: dict[str, Any] = {"model": contract.REFERENCE_MODEL, "prompt": prompt, "image_urls": [IMG] * 3}
    return CreateVideoRequest.model_validate({**body, **changes})


def failure(req: CreateVideoRequest) -> tuple[str | None, str | None]:
    with pytest.raises(ValidationFailed) as caught:
        validate_create(req, OFFERS)
    return caught.value.code, caught.value.param


@pytest.mark.parametrize("prompt", [
    "镜头从 @图片3 开始，然后是 @图片1，最后是 @图片2", "@图像3 @图像1 @图像2", "@image3 @image1", "@IMAGE3",
    "@Image 4 and @图片 9 are plain text", "email me@example.com"])
def test_mentions_of_existing_images_pass(prompt: str) -> None:
    assert validate_create(request(prompt), OFFERS) is OFFERS[contract.REFERENCE_MODEL]


@pytest.mark.parametrize("prompt", [
    "@图片4", "@图像4", "@IMAGE4", "@Image0", "@Video1", "@视频1", "@音频1",
    "@Image" + "9" * 4990, "@图片" + "1" * 4400 + " @Image1"])
def test_mentions_past_the_lists_are_invalid_reference_mention(prompt: str) -> None:
    assert failure(request(prompt)) == ("invalid_reference_mention", "prompt")


def test_offers_decide_resolution_and_audio() -> None:
    assert failure(request("@Image1", model="sora-2")) == ("invalid_model", "model")
    fast = {"model": contract.FAST_REFERENCE_MODEL}
    assert failure(request("@Image1", resolution="720p", **fast)) == ("invalid_resolution", "resolution")
    assert failure(request("@Image1", resolution="480p", **fast)) == ("invalid_generate_audio", "generate_audio")
    assert validate_create(request("@Image1", resolution="480p", generate_audio=False, **fast), OFFERS).engine == \
        "diffusion"


def test_reference_counts_come_from_the_contract() -> None:
    too_many = contract.MAX_COUNT["image"] + 1
    assert failure(request("@Image1", image_urls=[IMG] * too_many)) == ("too_many_references", "image_urls")
