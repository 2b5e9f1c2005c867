"""Chaos: a `refvid worker` process killed mid-render, and a storage write error mid-output. Every task ends
terminal with a code, no partial file is ever served, and nothing pending is lost. (Killing the engine
child and `kill -9` of `refvid serve` are covered by tests/api/test_lifecycle.py and
tests/acceptance/test_serve.py.)"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from standardwebhooks import Webhook

from refvid.config import Settings
from refvid.engines.registry import worker_engines
from refvid.runtime import Runtime
from refvid.storage.base import BlobStore
from refvid.storage.signing import signed_query
from refvid.worker.supervisor import Worker, WorkerDeps
from tests.support import media_factory as mf
from tests.support.bodies import create_body
from tests.support.keys import API_KEY
from tests.support.servers import WorkerProcess
from tests.support.video_checks import assert_contract
from tests.support.webhooks import FAST_WEBHOOKS, Receiver

pytestmark = [pytest.mark.slow, pytest.mark.settings(**FAST_WEBHOOKS)]
TERMINAL = {"completed", "failed", "cancelled"}


@pytest.fixture
def image_url(media_server: tuple[str, Path]) -> str:
    base, folder = media_server
    mf.make_image(folder / "a.png", 640, 480, seed=5)
    return f"{base}/a.png"


async def wait_status(api: httpx.AsyncClient, task_id: str, statuses: set[str],
                      timeout_s: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        task: dict[str, Any] = (await api.get(f"/v1/tasks/{task_id}")).json()
        if task["status"] in statuses:
            return task
        await asyncio.sleep(0.05)
    raise AssertionError(f"{task_id} never reached {statuses}")


def no_partial_files(blobs_root: Path) -> None:
    leftovers = [p for p in blobs_root.rglob("*") if p.is_file() and p.name.startswith(".partial-")]
    assert leftovers == []


def worker_process(settings: Settings, log: Path) -> WorkerProcess:
    """`refvid worker` on the test's data dir, with short leases so that a killed one is noticed quickly."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("REFVID_")}
    env.update({"REFVID_DATA_DIR": str(settings.data_dir), "REFVID_API_KEYS": API_KEY,
                "REFVID_FETCH_ALLOW_HOSTS": "127.0.0.1", "REFVID_LEASE_S": "3", "REFVID_HEARTBEAT_S": "0.5"})
    return WorkerProcess(env, log)


@pytest.fixture
def worker_processes(settings: Settings, tmp_path: Path) -> Iterator[list[WorkerProcess]]:
    started: list[WorkerProcess] = []
    yield started
    for process in started:
        process.stop()


async def test_killing_a_worker_process_mid_render_loses_nothing(
        api: httpx.AsyncClient, settings: Settings, runtime: Runtime, image_url: str, tmp_path: Path,
        worker_processes: list[WorkerProcess], receiver: Receiver, dispatcher: Any) -> None:
    secret = (await api.get("/v1/webhooks/secret")).json()["secret"]
    bodies = [create_body(receiver.url, image_urls=[image_url], duration=6 if i == 0 else 4) for i in range(3)]
    ids = [(await api.post("/v1/videos/generations", json=body)).json()["id"] for body in bodies]
    worker_processes.append(worker_process(settings, tmp_path / "worker-1.log"))
    while (await wait_status(api, ids[0], {"processing"}))["progress"] < 15:  # the engine is rendering
        await asyncio.sleep(0.05)
    worker_processes[0].kill9()
    worker_processes.append(worker_process(settings, tmp_path / "worker-2.log"))
    finals = [await wait_status(api, task_id, TERMINAL, timeout_s=180) for task_id in ids]
    assert [t["status"] for t in finals] == ["completed"] * 3, finals
    stored = runtime.store.get_task(ids[0])
    assert stored is not None and stored.attempts == 2  # the interrupted task ran again, once
    video = await api.get(finals[0]["results"][0]["url"], headers={"Authorization": ""})
    (tmp_path / "out.mp4").write_bytes(video.content)
    assert_contract(tmp_path / "out.mp4", 864, 496, 6, has_audio=True)
    no_partial_files(settings.data_dir / "blobs")
    # The webhook story of the interrupted task, each delivery verified: every task's `completed` arrives, and
    # the interrupted task's events come in the order of its changes (processing, pending again, processing,
    # completed); an intermediate one may be superseded by a newer event before it is sent, never reordered.
    def completed(deliveries: list[Any]) -> bool:
        done = {event["data"]["id"] for event in map(parse, deliveries) if event["data"]["status"] == "completed"}
        return set(ids) <= done

    events = [Webhook(secret).verify(d.body, d.headers) for d in receiver.wait_until(completed)]
    story = iter(["processing", "pending", "processing", "completed"])
    told = [e["data"]["status"] for e in events if e["data"]["id"] == ids[0]]
    assert told[-1] == "completed" and all(status in story for status in told), told


def parse(delivery: Any) -> Any:
    return json.loads(delivery.body)


class FaultyBlobs:
    """The real blob store, but the first video write fails halfway: `mid-copy` breaks the real store's own
    copy (it must leave nothing behind); `partial-object` leaves a half-written object at the final key, as a
    store without atomic writes could (the worker must remove it)."""

    def __init__(self, real: BlobStore, mode: str):
        self.real, self.mode, self.failed = real, mode, False

    def put_file(self, key: str, source: Path, content_type: str | None = None) -> None:
        if self.failed or not key.endswith("video.mp4"):
            return self.real.put_file(key, source, content_type)
        self.failed = True
        half = source.read_bytes()[: source.stat().st_size // 2]
        if self.mode == "partial-object":
            partial = source.with_name("partial.mp4")
            partial.write_bytes(half)
            self.real.put_file(key, partial, content_type)
        else:
            self.real.put_file(key, _FailingSource(source, len(half)), content_type)
        raise OSError(28, "No space left on device")

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


class _FailingSource(type(Path())):  # type: ignore[misc]
    """A file whose reads fail with ENOSPC-like errors after `limit` bytes (a disk filling up mid-copy)."""

    def __new__(cls, path: Path, limit: int) -> _FailingSource:
        made: _FailingSource = super().__new__(cls, path)
        made.limit = limit
        return made

    def open(self, *args: Any, **kwargs: Any) -> Any:
        real, limit = Path(self).open("rb"), self.limit  # noqa: SIM115  (Reader.__exit__ closes it)

        class Reader:
            def read(self, size: int = -1) -> bytes:
                if real.tell() >= limit:
                    raise OSError(28, "No space left on device")
                return real.read(min(size if size > 0 else limit, limit - real.tell()))

            def __enter__(self) -> Reader:
                return self

            def __exit__(self, *exc: object) -> None:
                real.close()

        return Reader()


@pytest.mark.parametrize("mode", ["mid-copy", "partial-object"])
async def test_a_storage_write_error_fails_the_task_and_serves_nothing(
        api: httpx.AsyncClient, settings: Settings, runtime: Runtime, image_url: str, mode: str) -> None:
    blobs = FaultyBlobs(runtime.blobs, mode)
    worker = Worker(WorkerDeps(settings, runtime.store, blobs, runtime.waker), worker_engines(settings))
    ids = [(await api.post("/v1/videos/generations", json=create_body(image_urls=[image_url]))).json()["id"]
           for _ in range(2)]
    worker.start()
    try:
        broken, fine = [await wait_status(api, task_id, TERMINAL) for task_id in ids]
    finally:
        worker.stop(grace_s=2.0)
    assert blobs.failed
    assert broken["status"] == "failed" and broken["error"]["code"] == "generation_failed"
    assert "No space left" in broken["error"]["message"] and broken["usage"]["credits_reserved"] == 0
    path = f"/v1/results/{ids[0]}/video.mp4"
    signed = f"{path}?{signed_query(runtime.signing_secret, path, int(time.time()) + 3600)}"
    assert (await api.get(signed, headers={"Authorization": ""})).status_code == 404
    assert not list((settings.data_dir / "blobs" / "results" / ids[0]).rglob("*.mp4"))
    no_partial_files(settings.data_dir / "blobs")
    assert fine["status"] == "completed"  # the worker carried on: nothing pending was lost
