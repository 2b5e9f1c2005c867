"""Issue 14: `data:` URLs in a create are refused at submit when over their kind's limit (judged from the
length, never decoded) and otherwise stored once as an upload; the task keeps only the upload's URL."""

from __future__ import annotations

import base64
from pathlib import Path

import httpx
import pytest

from refvid.contract import MAX_BYTES, MediaKind
from refvid.runtime import Runtime
from tests.support import media_factory as mf
from tests.support.bodies import create_body

ARK_TASKS = "/api/v3/contents/generations/tasks"


def data_url(mime: str, size_bytes: int) -> str:
    """A `data:` URL whose base64 text decodes to `size_bytes` (content does not matter at submit)."""
    return f"data:{mime};base64," + "A" * (size_bytes // 3 * 4)


def uploads_on_disk(runtime: Runtime) -> list[Path]:
    return sorted(p for p in (runtime.settings.data_dir / "blobs" / "uploads").rglob("*") if p.is_file())


@pytest.mark.parametrize(("field", "mime", "kind"), [("image_urls", "image/png", "image"),
                                                      ("audio_urls", "audio/wav", "audio")])
async def test_oversized_data_url_is_refused_naming_the_field(api: httpx.AsyncClient, runtime: Runtime,
                                                              field: str, mime: str, kind: MediaKind) -> None:
    big = data_url(mime, MAX_BYTES[kind] + 3 * 1024)
    body = create_body(prompt="@Image1", image_urls=["http://127.0.0.1:9/a.png"])
    body[field] = [*body.get(field, []), big] if field == "image_urls" else [big]
    answer = await api.post("/v1/videos/generations", json=body)
    assert answer.status_code == 422, answer.text
    index = len(body[field]) - 1
    assert answer.json()["error"]["param"] == f"{field}[{index}]"
    assert answer.json()["error"]["code"] == "reference_too_large"
    assert (await api.get("/v1/tasks")).json()["data"] == []
    assert uploads_on_disk(runtime) == []


async def test_accepted_data_url_is_stored_once_and_the_task_keeps_its_url(api: httpx.AsyncClient,
                                                                            runtime: Runtime, tmp_path: Path) -> None:
    png = mf.make_image(tmp_path / "ref.png", 640, 480, seed=3).read_bytes()
    inline = "data:image/png;base64," + base64.b64encode(png).decode()
    answer = await api.post("/v1/videos/generations", json=create_body(image_urls=[inline]))
    assert answer.status_code == 200, answer.text
    task = runtime.store.get_task(answer.json()["id"])
    assert task is not None
    stored_url = task.spec.image_urls[0]
    assert "/v1/files/file-" in stored_url and "data:" not in task.spec.to_dict().__repr__()
    files = uploads_on_disk(runtime)
    assert len(files) == 1 and files[0].read_bytes() == png
    served = await api.get(stored_url, headers={"Authorization": ""})
    assert served.status_code == 200 and served.content == png


async def test_five_mib_data_url_keeps_the_task_small(api: httpx.AsyncClient, runtime: Runtime) -> None:
    inline = data_url("image/png", 5 * 1024 * 1024)
    answer = await api.post("/v1/videos/generations", json=create_body(image_urls=[inline]))
    assert answer.status_code == 200, answer.text
    task = runtime.store.get_task(answer.json()["id"])
    assert task is not None and len(repr(task.spec.to_dict())) < 4096
    assert [f.stat().st_size for f in uploads_on_disk(runtime)] == [5 * 1024 * 1024 // 3 * 3]


async def test_invalid_base64_past_the_prefix_is_a_422(api: httpx.AsyncClient) -> None:
    inline = "data:image/png;base64," + "A" * 400 + "!!!!"
    answer = await api.post("/v1/videos/generations", json=create_body(image_urls=[inline]))
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"]["param"] == "image_urls[0]"


async def test_ark_dialect_refuses_and_stores_the_same_way(api: httpx.AsyncClient, runtime: Runtime,
                                                           tmp_path: Path) -> None:
    def ark_body(url: str) -> dict[str, object]:
        return {"model": "seedance-2.0-fast-reference-to-video", "resolution": "480p", "duration": 4,
                "content": [{"type": "text", "text": "a cat"},
                            {"type": "image_url", "image_url": {"url": url}, "role": "reference_image"}]}

    too_big = await api.post(ARK_TASKS, json=ark_body(data_url("image/png", MAX_BYTES["image"] + 4096)))
    assert too_big.status_code == 400, too_big.text
    assert too_big.json()["error"]["param"] == "content[1].image_url.url"
    png = mf.make_image(tmp_path / "ref.png", 640, 480, seed=4).read_bytes()
    created = await api.post(ARK_TASKS, json=ark_body("data:image/png;base64," + base64.b64encode(png).decode()))
    assert created.status_code == 200, created.text
    task = runtime.store.get_task(created.json()["id"])
    assert task is not None and "/v1/files/file-" in task.spec.image_urls[0]
    assert len(uploads_on_disk(runtime)) == 1


async def test_a_held_data_url_is_the_same_body_when_retried(api: httpx.AsyncClient) -> None:
    """A long data: URL is held as bytes (api/body_strings.py): the idempotency fingerprint still sees it."""
    inline = data_url("image/png", 1024 * 1024)
    key = {"Idempotency-Key": "inline-1"}
    first = await api.post("/v1/videos/generations", json=create_body(image_urls=[inline]), headers=key)
    again = await api.post("/v1/videos/generations", json=create_body(image_urls=[inline]), headers=key)
    assert first.status_code == again.status_code == 200, first.text
    assert again.json()["id"] == first.json()["id"]
    other = await api.post("/v1/videos/generations", json=create_body(image_urls=[inline[:-4] + "QUJD"]), headers=key)
    assert other.status_code == 409 and other.json()["error"]["code"] == "idempotency_key_reused", other.text


@pytest.mark.parametrize("as_object", [True, False])
async def test_openai_json_input_reference_data_url_is_stored(api: httpx.AsyncClient, runtime: Runtime,
                                                              tmp_path: Path, as_object: bool) -> None:
    png = mf.make_image(tmp_path / "ref.png", 800, 600, seed=5).read_bytes()
    inline = "data:image/png;base64," + base64.b64encode(png).decode()
    body = {"prompt": "@Image1 in the rain", "seconds": "4", "size": "864x496",
            "input_reference": {"image_url": inline} if as_object else inline}
    answer = await api.post("/v1/videos", json=body)
    assert answer.status_code == 200, answer.text
    assert [f.read_bytes() for f in uploads_on_disk(runtime)] == [png]


@pytest.mark.parametrize("prefix", ["", "data:image/png;base64,"])
async def test_big_base64_upload_is_stored_whole(api: httpx.AsyncClient, tmp_path: Path, prefix: str) -> None:
    png = mf.make_image(tmp_path / "ref.png", 800, 600, seed=6).read_bytes()
    answer = await api.post("/v1/files/upload/base64",
                            json={"file_data": prefix + base64.b64encode(png).decode(), "file_name": "a.png"})
    assert answer.status_code == 200, answer.text
    fetched = await api.get(answer.json()["url"], headers={"Authorization": ""})
    assert fetched.content == png and answer.json()["size"] == len(png)
