"""S3 storage against a real S3 API: a local moto server process on 127.0.0.1 (random port).

Covers the `BlobStore` contract on S3, and the API paths that hand S3 objects to clients: uploads and
results are served as presigned GET URLs (results valid 24 h after completion).
"""

from __future__ import annotations

import base64
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from refvid.config import Settings
from refvid.runtime import Runtime
from refvid.storage.base import Removed, open_blob_store
from refvid.storage.s3 import S3BlobStore, parse_s3_url
from refvid.tasks.model import TaskStatus
from tests.support import media_factory as mf
from tests.support.apps import api_app
from tests.support.keys import API_KEY
from tests.support.stores import make_task

boto3 = pytest.importorskip("boto3")
pytest.importorskip("moto")
CREDENTIALS = {"access_key_id": "testing", "secret_access_key": "testing", "region": "us-east-1"}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    """`python -m moto.server` as a subprocess on loopback; its URL."""
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    try:
        while True:
            try:
                httpx.get(url, timeout=1, trust_env=False)
                break
            except httpx.HTTPError:
                assert proc.poll() is None, "moto server exited"
                assert time.monotonic() < deadline, "moto server did not start"
                time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture
def bucket(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    name = f"refvid-{secrets.token_hex(4)}"
    boto3.client("s3", endpoint_url=s3_endpoint, aws_access_key_id="testing", aws_secret_access_key="testing",
                 region_name="us-east-1").create_bucket(Bucket=name)
    return name


@pytest.fixture
def blobs(s3_endpoint: str, bucket: str) -> S3BlobStore:
    return S3BlobStore.from_url(f"s3://{bucket}/deploy/a", endpoint_url=s3_endpoint, **CREDENTIALS)


def test_parse_s3_url() -> None:
    assert parse_s3_url("s3://b") == ("b", "")
    assert parse_s3_url("s3://b/") == ("b", "")
    assert parse_s3_url("s3://b/x/y/") == ("b", "x/y/")
    with pytest.raises(ValueError):
        parse_s3_url("s3:///nobucket")


def test_put_get_exists_and_missing(blobs: S3BlobStore, tmp_path: Path) -> None:
    source = tmp_path / "in.bin"
    source.write_bytes(b"\x00video bytes" * 1000)
    blobs.put_file("results/t1/1/video.mp4", source, "video/mp4")
    assert blobs.exists("results/t1/1/video.mp4") and not blobs.exists("results/t1/1/other.mp4")
    assert blobs.local_path("results/t1/1/video.mp4") is None
    out = blobs.get_to("results/t1/1/video.mp4", tmp_path / "out.bin")
    assert out.read_bytes() == source.read_bytes()
    with pytest.raises(FileNotFoundError):
        blobs.get_to("results/t1/1/missing.mp4", tmp_path / "missing.bin")
    for bad in ("../escape", "/abs/key", ""):
        with pytest.raises(ValueError):
            blobs.exists(bad)
    head = blobs._client.head_object(Bucket=blobs.bucket, Key="deploy/a/results/t1/1/video.mp4")
    assert head["ContentType"] == "video/mp4"


def test_presigned_url_serves_the_object(blobs: S3BlobStore, tmp_path: Path) -> None:
    source = tmp_path / "thumb.jpg"
    source.write_bytes(b"jpeg-ish" * 100)
    blobs.put_file("results/t1/1/thumbnail.jpg", source, "image/jpeg")
    url = blobs.presigned_url("results/t1/1/thumbnail.jpg", 86400)
    assert url is not None and parse_qs(urlsplit(url).query)["X-Amz-Expires"] == ["86400"]
    response = httpx.get(url, trust_env=False)
    assert response.status_code == 200 and response.content == source.read_bytes()
    assert response.headers["content-type"] == "image/jpeg"


def test_delete_prefix_removes_only_that_folder(blobs: S3BlobStore, tmp_path: Path) -> None:
    source = tmp_path / "f"
    source.write_bytes(b"x")
    keys = ["results/t1/1/video.mp4", "results/t1/2/video.mp4", "results/t10/1/video.mp4", "uploads/f/a.png"]
    for key in keys:
        blobs.put_file(key, source)
    assert blobs.delete_prefix("results/t1/") == Removed(files=2, size_bytes=2)  # counted for /metrics
    assert [blobs.exists(k) for k in keys] == [False, False, True, True]
    assert blobs.delete_prefix("uploads/f/a.png") == Removed(1, 1)  # a single object, as the disk store allows
    assert not blobs.exists("uploads/f/a.png")
    assert blobs.delete_prefix("results/gone/") == Removed(0, 0)


def test_list_folders_pages_through_the_task_folders(blobs: S3BlobStore, tmp_path: Path) -> None:
    source = tmp_path / "f"
    source.write_bytes(b"x")
    for name in ("task-b", "task-a", "task-a-2", "task-c"):
        blobs.put_file(f"results/{name}/1/video.mp4", source)
        blobs.put_file(f"results/{name}/1/thumbnail.jpg", source)
    blobs.put_file("uploads/file-1/a.png", source)
    # Key order: a name sorts as name + "/", so "task-a-2" comes before "task-a".
    assert blobs.list_folders("results/", None, 10) == ["task-a-2", "task-a", "task-b", "task-c"]
    assert blobs.list_folders("results/", None, 2) == ["task-a-2", "task-a"]
    assert blobs.list_folders("results/", "task-a", 2) == ["task-b", "task-c"]
    assert blobs.list_folders("results/", "task-c", 2) == []
    assert blobs.list_folders("nothing/", None, 2) == []


def test_open_blob_store_passes_the_s3_settings(s3_endpoint: str, bucket: str, tmp_path: Path) -> None:
    store = open_blob_store(f"s3://{bucket}", endpoint_url=s3_endpoint, **CREDENTIALS)
    assert isinstance(store, S3BlobStore) and store.prefix == ""
    source = tmp_path / "f"
    source.write_bytes(b"y")
    store.put_file("a/b", source)
    assert store.exists("a/b")


@pytest.fixture
def s3_runtime(tmp_path: Path, s3_endpoint: str, bucket: str) -> Iterator[Runtime]:
    settings = Settings(data_dir=tmp_path / "data", api_keys=[API_KEY], storage_url=f"s3://{bucket}/node",
                        s3_endpoint_url=s3_endpoint, s3_access_key_id="testing",
                        s3_secret_access_key="testing", s3_region="us-east-1")
    runtime = Runtime.open(settings)
    yield runtime
    runtime.close()


async def test_uploads_and_results_are_served_from_s3(s3_runtime: Runtime, tmp_path: Path) -> None:
    app = api_app(s3_runtime.settings, s3_runtime)
    png = mf.make_image(tmp_path / "ref.png", 400, 300, seed=3).read_bytes()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://refvid.test",
                                 headers={"Authorization": f"Bearer {API_KEY}"}) as api, \
            httpx.AsyncClient(trust_env=False) as s3:
        # 1. An upload lands in the bucket; its URL redirects to a presigned S3 URL.
        uploaded = await api.post("/v1/files/upload/base64", json={
            "file_data": base64.b64encode(png).decode(), "file_name": "ref.png"})
        assert uploaded.status_code == 200, uploaded.text
        file_id = uploaded.json()["id"]
        assert s3_runtime.blobs.exists(f"uploads/{file_id}/ref.png")
        redirect = await api.get(uploaded.json()["url"].replace("http://refvid.test", ""))
        assert redirect.status_code == 307
        assert (await s3.get(redirect.headers["location"])).content == png

        # 2. A completed task's result URL is a presigned S3 URL, valid 24 h after completion.
        task = make_task(owner=s3_runtime.owner_of(API_KEY) or "")
        s3_runtime.store.insert_task(task)
        claim = s3_runtime.store.claim_next("w1", [task.engine], 30)
        assert claim is not None
        video = tmp_path / "video.mp4"
        video.write_bytes(b"not really an mp4" * 10)
        s3_runtime.blobs.put_file(f"results/{task.id}/1/video.mp4", video, "video/mp4")
        result: dict[str, Any] = {"video_key": f"results/{task.id}/1/video.mp4", "thumbnail_key": None, "seed": 1,
                  "width": 864, "height": 496, "duration": 4, "fps": 24, "has_audio": True, "extra": {}}
        assert s3_runtime.store.finish(task.id, claim.token, TaskStatus.COMPLETED, result=result)
        body = (await api.get(f"/v1/tasks/{task.id}")).json()
        url = body["results"][0]["url"]
        assert url.startswith(s3_runtime.settings.s3_endpoint_url or "")
        assert 86000 <= int(parse_qs(urlsplit(url).query)["X-Amz-Expires"][0]) <= 86400
        assert (await s3.get(url)).content == video.read_bytes()
