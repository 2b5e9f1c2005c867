"""Bad input on `/v1/videos` gets this dialect's error shape, `{"error": {"message", "type", "param", "code"}}`,
with the field named as the client sent it, and never a 5xx; multipart (what the SDK sends) and JSON alike.
FoxAPI's `/v1/videos/generations` answers exactly as before."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support import media_factory as mf

OK = {"prompt": "a paper boat on a rainy street", "seconds": "4", "size": "864x496"}


def assert_error(answer: httpx.Response, status: int, param: str | None, code: str | None = None) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    error: dict[str, Any] = answer.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}, error
    assert error["param"] == param, error
    assert error["type"] == ("invalid_request_error" if status < 500 else "server_error"), error
    if code is not None:
        assert error["code"] == code, error
    return error


@pytest.mark.parametrize(("changes", "param", "code", "words"), [
    ({"size": "1792x1024"}, "size", "invalid_size", "864x496"),  # lists the sizes the model offers
    ({"size": "banana"}, "size", "invalid_size", "1280x720"),
    ({"seconds": "3"}, "seconds", "invalid_seconds", "4–15"),
    ({"seconds": "four"}, "seconds", "invalid_seconds", "whole number"),
    ({"model": "sora-2"}, "model", "invalid_model", "seedance-2.0-text-to-video"),  # lists the ids served
    ({"quality": "high"}, "quality", "unknown_parameter", "quality"),
    ({"seed": "x"}, "seed", "invalid_seed", "integer"),
    ({"generate_audio": "loud"}, "generate_audio", "invalid_generate_audio", "boolean"),
    ({"resolution": "720p"}, "resolution", "invalid_resolution", "disagrees"),  # size says 480p
    ({"ratio": "cinema"}, "ratio", "invalid_ratio", "cinema"),
    ({"image_urls[]": "ftp://example.com/a.png"}, "image_urls[0]", "invalid_image_urls", "http"),
    ({"prompt": "@Image1 runs"}, "prompt", "invalid_reference_mention", "@Image1"),
    ({"model": "seedance-2.0-text-to-video", "image_urls[]": "https://example.com/a.png"}, "image_urls",
     "unsupported_parameter", "text-to-video"),
    ({"input_reference[image_url]": "ftp://example.com/a.png"}, "input_reference", "invalid_input_reference",
     "http"),
    ({"input_reference[file_id]": "file-123"}, "input_reference.file_id", None, "upload"),
    ({"model": "seedance-2.0-text-to-video", "input_reference[image_url]": "https://example.com/a.png"},
     "input_reference", "unsupported_parameter", "text-to-video"),
    ({"image_urls": "https://example.com/a.png", "image_urls[k]": "x"}, "image_urls[k]", None, "object"),
    ({"image_urls[a][b]": "x"}, "image_urls[a][b]", "unknown_parameter", "field name"),
    ({"prompt": "字" * 5001}, "prompt", "invalid_prompt", "5000"),
    ({"seconds": "4" * 30}, "seconds", "invalid_seconds", "whole number"),
])
async def test_a_bad_form_names_the_field(api: httpx.AsyncClient, changes: dict[str, str], param: str,
                                          code: str | None, words: str) -> None:
    answer = await api.post("/v1/videos", files={**{k: (None, v) for k, v in {**OK, **changes}.items()}})
    error = assert_error(answer, 400, param, code)
    assert words in error["message"], error


@pytest.mark.parametrize(("body", "param", "code"), [
    ({**OK, "seed": "7"}, "seed", "invalid_seed"),  # JSON is typed: no text for numbers
    ({**OK, "generate_audio": "true"}, "generate_audio", "invalid_generate_audio"),
    ({**OK, "image_urls": "https://example.com/a.png"}, "image_urls", "invalid_image_urls"),
    ({**OK, "seconds": 4.5}, "seconds", "invalid_seconds"),
    ({**OK, "prompt": 42}, "prompt", "invalid_prompt"),
    ({"seconds": "4"}, "prompt", "missing_required_parameter"),
    ({**OK, "input_reference": {"url": "https://example.com/a.png"}}, "input_reference.url", "unknown_parameter"),
    ({**OK, "input_reference": {}}, "input_reference.image_url", "missing_required_parameter"),
    ({**OK, "seconds": "99"}, "seconds", "invalid_seconds"),
    ({**OK, "seed": -5}, "seed", "invalid_seed"),
])
async def test_a_bad_json_body_names_the_field(api: httpx.AsyncClient, body: dict[str, Any], param: str,
                                               code: str) -> None:
    assert_error(await api.post("/v1/videos", json=body), 400, param, code)


@pytest.mark.parametrize(("content", "content_type", "code"), [
    (b"{", "application/json", "invalid_json"),
    (b"[1, 2]", "application/json", "invalid_json"),
    (b"prompt=x", "text/plain", "invalid_content_type"),
    (b"--x\r\nContent-Disposition: form-data; name=\"prompt\"\r\n\r\nhi", "multipart/form-data; boundary=x",
     "invalid_multipart"),
])
async def test_an_unreadable_body_is_a_400(api: httpx.AsyncClient, content: bytes, content_type: str,
                                           code: str) -> None:
    answer = await api.post("/v1/videos", content=content, headers={"Content-Type": content_type})
    assert answer.status_code == 400 and answer.json()["error"]["code"] == code, answer.text


async def test_an_input_reference_that_is_no_media_is_named(api: httpx.AsyncClient, tmp_path: Path) -> None:
    answer = await api.post("/v1/videos", data=OK, files={"input_reference": ("a.png", b"<html>not an image")})
    assert_error(answer, 400, "input_reference", "unsupported_file_type")
    both = await api.post("/v1/videos", data={**OK, "input_reference[image_url]": "https://example.com/a.png"},
                          files={"input_reference": ("a.png", mf.make_image(tmp_path / "a.png").read_bytes())})
    assert_error(both, 400, "input_reference")


@pytest.mark.parametrize(("path", "param"), [
    ("/v1/videos?limit=1000", "limit"), ("/v1/videos?order=sideways", "order"),
    ("/v1/videos?after=task-unified-0-missing0", "after"),
])
async def test_bad_list_parameters_are_named(api: httpx.AsyncClient, path: str, param: str) -> None:
    assert_error(await api.get(path), 400, param)


async def test_lookups_keys_and_features_that_are_not_here(api: httpx.AsyncClient) -> None:
    video_id = (await api.post("/v1/videos", json=OK)).json()["id"]
    assert_error(await api.get(f"/v1/videos/{video_id}/content?variant=spritesheet"), 400, "variant")
    assert_error(await api.get("/v1/videos/task-unified-0-missing0"), 404, "video_id", "video_not_found")
    assert_error(await api.delete("/v1/videos/task-unified-0-missing0"), 404, "video_id")
    unauthorised = await api.get(f"/v1/videos/{video_id}", headers={"Authorization": "Bearer nope"})
    assert_error(unauthorised, 401, None, "invalid_api_key")
    for method, path in (("POST", f"/v1/videos/{video_id}/remix"), ("POST", "/v1/videos/edits"),
                         ("POST", "/v1/videos/extensions"), ("POST", "/v1/videos/characters"),
                         ("GET", "/v1/videos/characters/char_1")):
        error = assert_error(await api.request(method, path, json={"prompt": "x"}), 404, None, "unsupported_endpoint")
        assert "docs/openai.md" in error["message"]


async def test_foxapi_create_keeps_its_own_route(api: httpx.AsyncClient) -> None:
    wrong_method = await api.get("/v1/videos/generations")
    assert wrong_method.status_code == 405 and wrong_method.headers["allow"] == "POST", wrong_method.text
    foxapi = await api.post("/v1/videos/generations", json={"model": "seedance-2.0-text-to-video", "prompt": "x",
                                                             "duration": 3})
    assert foxapi.status_code == 422 and foxapi.json()["error"]["param"] == "duration", foxapi.text  # FoxAPI: 422
    created = await api.post("/v1/videos/generations", json={"model": "seedance-2.0-text-to-video", "prompt": "x"})
    assert created.status_code == 200 and created.json()["object"] == "video.generation.task", created.text
