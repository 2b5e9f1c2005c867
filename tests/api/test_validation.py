"""Every rule of spec §3 at submit: status, error.type, error.code, error.param (and one error shape)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.support.keys import OTHER_KEY

MODEL = "seedance-2.0-reference-to-video"
FAST = "seedance-2.0-fast-reference-to-video"
IMG = "https://example.com/a.png"
VID = "https://example.com/a.mp4"
AUD = "https://example.com/a.mp3"


def body(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"model": MODEL, "prompt": "a cat like @Image1", "image_urls": [IMG]}
    base.update(changes)
    return {k: v for k, v in base.items() if v is not ...}


def assert_error(response: httpx.Response, status: int, err_type: str, param: str | None,
                 code: str | None = None) -> None:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "code", "param"}
    assert error["type"] == err_type
    assert error["param"] == param
    assert error["message"]
    if code is not None:
        assert error["code"] == code


CASES: list[tuple[str, dict[str, Any], str, str | None]] = [
    ("unknown model", body(model="sora-2"), "model", "invalid_model"),
    ("missing model", body(model=...), "model", "missing_required_parameter"),
    ("missing prompt", body(prompt=...), "prompt", "missing_required_parameter"),
    ("empty prompt", body(prompt=""), "prompt", "invalid_prompt"),
    ("blank prompt", body(prompt="   "), "prompt", "invalid_prompt"),
    ("prompt too long", body(prompt="字" * 5001), "prompt", "invalid_prompt"),
    ("prompt wrong type", body(prompt=5), "prompt", "invalid_prompt"),
    ("resolution", body(resolution="4k"), "resolution", "invalid_resolution"),
    ("1080p on fast", body(model=FAST, resolution="1080p"), "resolution", "invalid_resolution"),
    ("ratio", body(ratio="2:1"), "ratio", "invalid_ratio"),
    ("aspect_ratio", body(aspect_ratio="5:4"), "aspect_ratio", "invalid_aspect_ratio"),
    ("ratio disagrees", body(ratio="16:9", aspect_ratio="9:16"), "aspect_ratio", "invalid_ratio"),
    ("duration low", body(duration=3), "duration", "invalid_duration"),
    ("duration high", body(duration=16), "duration", "invalid_duration"),
    ("duration zero", body(duration=0), "duration", "invalid_duration"),
    ("duration -2", body(duration=-2), "duration", "invalid_duration"),
    ("duration float", body(duration=5.5), "duration", "invalid_duration"),
    ("duration bool", body(duration=True), "duration", "invalid_duration"),
    ("duration string", body(duration="five"), "duration", "invalid_duration"),
    ("generate_audio", body(generate_audio="maybe"), "generate_audio", "invalid_generate_audio"),
    ("seed negative", body(seed=-5), "seed", "invalid_seed"),
    ("seed too big", body(seed=2147483648), "seed", "invalid_seed"),
    ("10 images", body(image_urls=[IMG] * 10), "image_urls", "too_many_references"),
    ("4 videos", body(video_urls=[VID] * 4), "video_urls", "too_many_references"),
    ("4 audios", body(audio_urls=[AUD] * 4), "audio_urls", "too_many_references"),
    ("13 references", body(image_urls=[IMG] * 9, video_urls=[VID] * 3, audio_urls=[AUD]), "image_urls",
     "too_many_references"),
    ("no visual reference", body(image_urls=[], prompt="a cat"), "image_urls", "missing_visual_reference"),
    ("audio alone", body(image_urls=[], audio_urls=[AUD], prompt="music"), "audio_urls",
     "missing_visual_reference"),
    ("mention past the list", body(prompt="@Image2 dances"), "prompt", "invalid_reference_mention"),
    ("video mention, no video", body(prompt="@Image1 moves like @Video1"), "prompt", "invalid_reference_mention"),
    ("lower-case mention", body(prompt="@image3"), "prompt", "invalid_reference_mention"),
    ("chinese mention", body(prompt="参考@音频1的氛围"), "prompt", "invalid_reference_mention"),
    ("ftp url", body(image_urls=["ftp://example.com/a.png"]), "image_urls[0]", "invalid_image_urls"),
    ("file url", body(image_urls=[IMG, "file:///etc/passwd"]), "image_urls[1]", "invalid_image_urls"),
    ("not a url", body(video_urls=["hello"], prompt="x"), "video_urls[0]", "invalid_video_urls"),
    ("bad data url", body(image_urls=["data:image/png,notbase64"]), "image_urls[0]", "invalid_image_urls"),
    ("url not a string", body(image_urls=[5]), "image_urls[0]", "invalid_image_urls"),
    ("urls not a list", body(image_urls=IMG), "image_urls", "invalid_image_urls"),
    ("callback", body(callback_url="javascript:alert(1)"), "callback_url", "invalid_callback_url"),
    ("unknown field", body(quality="ultra"), "quality", "unknown_parameter"),
]


@pytest.mark.parametrize(("name", "payload", "param", "code"), CASES, ids=[c[0] for c in CASES])
async def test_rule_rejected_with_422(api: httpx.AsyncClient, name: str, payload: dict[str, Any], param: str,
                                      code: str) -> None:
    response = await api.post("/v1/videos/generations", json=payload)
    assert_error(response, 422, "invalid_request_error", param, code)


ACCEPTED: list[tuple[str, dict[str, Any]]] = [
    ("minimal", body()),
    ("video only", body(image_urls=[], video_urls=[VID], prompt="like @Video1")),
    ("all kinds", body(image_urls=[IMG] * 9, video_urls=[VID] * 2, audio_urls=[AUD], prompt="@Image9 @Video2 @Audio1")),
    ("chinese mentions", body(prompt="@图像1 跳舞", image_urls=[IMG])),
    ("case-insensitive mention", body(prompt="@IMAGE1 and @image1")),
    ("aliases agree", body(ratio="9:16", aspect_ratio="9:16")),
    ("aspect_ratio alone", body(aspect_ratio="21:9")),
    ("duration -1", body(duration=-1)),
    ("bounds", body(duration=15, seed=2147483647, resolution="480p")),
    ("1080p on standard", body(resolution="1080p")),
    ("data url", body(image_urls=["data:image/png;base64,iVBORw0KGgo="])),
    ("5000 code points", body(prompt="🎬" * 4990 + "@Image1 ok")),
]


@pytest.mark.parametrize(("name", "payload"), ACCEPTED, ids=[c[0] for c in ACCEPTED])
async def test_valid_request_accepted(api: httpx.AsyncClient, name: str, payload: dict[str, Any]) -> None:
    response = await api.post("/v1/videos/generations", json=payload)
    assert response.status_code == 200, response.text
    task = response.json()
    assert task["status"] == "pending"
    assert task["object"] == "video.generation.task"
    assert task["type"] == "video"
    assert task["model"] == payload["model"]
    assert task["progress"] == 0
    assert task["task_info"]["can_cancel"] is True
    assert task["task_info"]["estimated_time"] > 0
    assert response.headers["location"] == f"/v1/tasks/{task['id']}"
    import re

    assert re.fullmatch(r"task-unified-\d{10}-[a-z0-9]{8}", task["id"])


async def test_malformed_json_is_400(api: httpx.AsyncClient) -> None:
    response = await api.post("/v1/videos/generations", content=b"{not json",
                              headers={"Content-Type": "application/json"})
    assert_error(response, 400, "invalid_request_error", None, "invalid_json")


async def test_json_array_is_400(api: httpx.AsyncClient) -> None:
    response = await api.post("/v1/videos/generations", json=[1, 2])
    assert_error(response, 400, "invalid_request_error", None, "invalid_json")


async def test_wrong_content_type_is_400(api: httpx.AsyncClient) -> None:
    response = await api.post("/v1/videos/generations", content=b"model=x",
                              headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert_error(response, 400, "invalid_request_error", None, "invalid_content_type")


async def test_body_too_large_is_413(api: httpx.AsyncClient, settings: Any) -> None:
    big = body(prompt="x" * (settings.max_body_bytes + 10))
    response = await api.post("/v1/videos/generations", json=big)
    assert_error(response, 413, "file_too_large_error", None)


async def test_missing_key_is_401(api: httpx.AsyncClient) -> None:
    response = await api.post("/v1/videos/generations", json=body(), headers={"Authorization": ""})
    assert_error(response, 401, "authentication_error", None)


async def test_unknown_key_is_401(api: httpx.AsyncClient) -> None:
    response = await api.get("/v1/tasks", headers={"Authorization": "Bearer nope"})
    assert_error(response, 401, "authentication_error", None)


async def test_other_keys_task_is_404(api: httpx.AsyncClient) -> None:
    task = (await api.post("/v1/videos/generations", json=body())).json()
    other = {"Authorization": f"Bearer {OTHER_KEY}"}
    for method, path in (("GET", f"/v1/tasks/{task['id']}"), ("POST", f"/v1/tasks/{task['id']}/cancel"),
                         ("DELETE", f"/v1/tasks/{task['id']}")):
        response = await api.request(method, path, headers=other)
        assert_error(response, 404, "not_found", None)
    listed = (await api.get("/v1/tasks", headers=other)).json()
    assert listed["data"] == []


async def test_unknown_route_uses_the_envelope(api: httpx.AsyncClient) -> None:
    response = await api.get("/v1/nothing-here")
    assert_error(response, 404, "not_found", None)
