"""refvid.Client / AsyncClient against the real app on httpx.ASGITransport (and a real worker)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from refvid import AsyncClient, Client
from refvid.api.schemas import TaskObject
from refvid.client.errors import (
    AuthenticationError,
    ConflictError,
    InvalidRequestError,
    NotFoundError,
    TaskCancelledError,
    TaskFailedError,
    WaitTimeoutError,
)
from refvid.config import Settings
from refvid.runtime import Runtime
from refvid.worker.supervisor import Worker
from tests.support import media_factory as mf
from tests.support.apps import api_app
from tests.support.keys import API_KEY, OTHER_KEY
from tests.support.video_checks import assert_contract

BASE = "http://refvid.test"
FAST = "seedance-2.0-fast-reference-to-video"


@pytest.fixture
def transport(settings: Settings, runtime: Runtime) -> httpx.ASGITransport:
    return httpx.ASGITransport(app=api_app(settings, runtime))


@pytest.fixture
async def aclient(transport: httpx.ASGITransport) -> AsyncIterator[AsyncClient]:
    async with AsyncClient(BASE, API_KEY, transport=transport) as client:
        yield client


@pytest.fixture
def client(transport: httpx.ASGITransport) -> Iterator[Client]:
    with Client(BASE + "/v1/", API_KEY, transport=transport) as sync_client:
        yield sync_client


@pytest.fixture
def image(tmp_path: Path) -> Path:
    return mf.make_image(tmp_path / "ref.png", 640, 480, seed=5)


async def test_errors_carry_type_code_param(aclient: AsyncClient, transport: httpx.ASGITransport) -> None:
    with pytest.raises(InvalidRequestError) as bad:
        await aclient.create("@Image1", images=["https://example.com/a.png"], duration=3)
    assert (bad.value.status_code, bad.value.type, bad.value.code, bad.value.param) == (
        422, "invalid_request_error", "invalid_duration", "duration")
    with pytest.raises(NotFoundError) as missing:
        await aclient.get("task-unified-1-nothere0")
    assert missing.value.type == "not_found" and missing.value.status_code == 404
    async with AsyncClient(BASE, "wrong-key", transport=transport) as stranger:
        with pytest.raises(AuthenticationError) as auth:
            await stranger.list()
    assert auth.value.type == "authentication_error" and auth.value.code == "invalid_api_key"
    with pytest.raises(FileNotFoundError):
        await aclient.create("@Image1", images=["no/such/file.png"])


async def test_upload_then_create_list_cancel_delete(aclient: AsyncClient, image: Path,
                                                     transport: httpx.ASGITransport) -> None:
    uploaded = await aclient.upload(image)
    assert uploaded.id.startswith("file-") and uploaded.size == image.stat().st_size
    assert uploaded.url.startswith(f"{BASE}/v1/files/") and uploaded.filename.endswith(".png")
    first = await aclient.create("@Image1 waves", images=[uploaded.url], resolution="480p", duration=4)
    second = await aclient.create("@Image1 runs", images=[image], model=FAST, seed=7, generate_audio=False)
    assert isinstance(first, TaskObject) and first.status == "pending" and first.task_info.can_cancel
    assert second.model == FAST
    page = await aclient.list(limit=1)
    assert [t.id for t in page.data] == [second.id] and page.has_more and page.last_id == second.id
    rest = await aclient.list(after=page.last_id)
    assert [t.id for t in rest.data] == [first.id] and not rest.has_more
    async with AsyncClient(BASE, OTHER_KEY, transport=transport) as other:
        assert (await other.list()).data == []
        with pytest.raises(NotFoundError):
            await other.cancel(first.id)
    cancelled = await aclient.cancel(first.id)
    assert cancelled.status == "cancelled" and not cancelled.task_info.can_cancel
    with pytest.raises(ConflictError) as conflict:
        await aclient.cancel(first.id)
    assert conflict.value.code == "task_not_cancellable" and conflict.value.status_code == 409
    with pytest.raises(TaskCancelledError) as waited:
        await aclient.wait(first.id)
    assert waited.value.type == "task_error" and waited.value.task.id == first.id
    assert (await aclient.list(status="pending")).data[0].id == second.id
    deleted = await aclient.delete(first.id)
    assert deleted.deleted and deleted.id == first.id
    with pytest.raises(NotFoundError):
        await aclient.get(first.id)


async def test_wait_times_out_and_task_keeps_running(aclient: AsyncClient, image: Path) -> None:
    task = await aclient.create("@Image1", images=[image], resolution="480p", duration=4)
    seen: list[str] = []
    with pytest.raises(WaitTimeoutError) as timeout:
        await aclient.wait(task, timeout=0.3, on_progress=lambda t: seen.append(t.status))
    assert timeout.value.task.status == "pending" and seen and set(seen) == {"pending"}
    assert (await aclient.get(task.id)).status == "pending"


def test_sync_client_generates_and_downloads(client: Client, worker: Worker, image: Path,
                                            tmp_path: Path) -> None:
    audio = mf.make_wav(tmp_path / "music.wav", seconds=3.0)
    task = client.create("@Image1 dances to @Audio1", images=[image], audios=[str(audio)], resolution="480p",
                         ratio="16:9", duration=4)
    progress: list[int] = []
    statuses: list[str] = []

    def on_progress(current: TaskObject) -> None:
        progress.append(current.progress)
        statuses.append(current.status)

    done = client.wait(task.id, on_progress=on_progress, timeout=120)
    assert done.status == "completed" and statuses[-1] == "completed" and progress[-1] == 100
    assert progress == sorted(progress)
    (result,) = done.results or []
    assert (result.width, result.height, result.fps, result.has_audio) == (864, 496, 24, True)
    path = client.download(done, tmp_path)
    assert path == tmp_path / f"{done.id}.mp4"
    assert_contract(path, 864, 496, 4, has_audio=True)
    again = client.download(done.id, tmp_path / "copy.mp4")
    assert again.read_bytes() == path.read_bytes()
    assert [t.id for t in client.list().data] == [done.id]


async def test_failed_task_raises_with_task_error_code(aclient: AsyncClient, worker: Worker,
                                                       media_server: tuple[str, Path]) -> None:
    base, _ = media_server
    task = await aclient.create("@Image1", images=[f"{base}/missing.png"], resolution="480p", duration=4)
    with pytest.raises(TaskFailedError) as failed:
        await aclient.wait(task, timeout=60)
    assert failed.value.type == "task_error" and failed.value.code == "reference_fetch_failed"
    assert failed.value.task.error is not None and "image_urls[0]" in failed.value.task.error.message
    with pytest.raises(TaskFailedError):
        await aclient.download(task.id)


async def test_async_progress_callback_and_cancel_while_waiting(aclient: AsyncClient, image: Path) -> None:
    task = await aclient.create("@Image1", images=[image], resolution="480p", duration=4)
    calls: list[str] = []

    async def on_progress(current: TaskObject) -> None:
        calls.append(current.status)
        if len(calls) == 2:
            await aclient.cancel(current.id)

    with pytest.raises(TaskCancelledError):
        await asyncio.wait_for(aclient.wait(task, on_progress=on_progress, poll_interval=0.05), 10)
    assert calls[:2] == ["pending", "pending"] and calls[-1] == "cancelled"
