"""`sync_upstream=true`: the provider's word on cancellability, without ever writing the task."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from pathlib import Path

import pytest

from refvid.config import Settings
from refvid.engines.relay import upstream as relay_sync
from refvid.engines.relay.client import ArkClient
from refvid.runtime import Runtime
from refvid.tasks.model import Task, TaskSpec, TaskStatus
from refvid.tasks.service import TaskService
from tests.support.fakes.ark import FakeArk

BODY = {"model": "m", "content": [{"type": "text", "text": "hi"}]}


@pytest.fixture
def ark() -> Iterator[FakeArk]:
    relay_sync._cache.clear()
    with FakeArk() as fake:
        yield fake


def processing_relay_task(runtime: Runtime, upstream_id: str | None) -> Task:
    task = Task(id="task-unified-1-sync0001", owner="k", engine="relay",
                spec=TaskSpec(model="seedance-2.0-reference-to-video", prompt="p"))
    runtime.store.insert_task(task)
    claim = runtime.store.claim_next("w1", ["relay"], 30)
    assert claim is not None
    if upstream_id:
        assert runtime.store.save_engine_state(task.id, claim.token, {"upstream_task_id": upstream_id})
    stored = runtime.store.get_task(task.id)
    assert stored is not None
    return stored


def sync_settings(tmp_path: Path, ark: FakeArk) -> Settings:
    return Settings(data_dir=tmp_path / "data", ark_api_key="x", ark_base_url=ark.base_url)


def refresh(settings: Settings, runtime: Runtime, task: Task) -> Task:
    """What GET ?sync_upstream=true shows: the task service asking the relay's upstream probe."""
    service = TaskService(settings, runtime.store, runtime.blobs, runtime.waker,
                          upstream=functools.partial(relay_sync.left_queue, settings))
    return service.sync_upstream(task)


def create_upstream(ark: FakeArk, **plan: object) -> str:
    ark.plan_next(**plan)
    client = ArkClient("x", ark.base_url)
    try:
        return client.create_task(BODY)
    finally:
        client.close()


def test_running_upstream_means_no_longer_cancellable(tmp_path: Path, ark: FakeArk, runtime: Runtime) -> None:
    upstream_id = create_upstream(ark, queued_ms=0, running_ms=60_000)
    task = processing_relay_task(runtime, upstream_id)
    assert task.can_cancel
    view = refresh(sync_settings(tmp_path, ark), runtime, task)
    assert not view.can_cancel and view.status == TaskStatus.PROCESSING and view.progress == task.progress
    stored = runtime.store.get_task(task.id)
    assert stored is not None and stored.cancellable  # nothing written: the worker is the only writer
    refresh(sync_settings(tmp_path, ark), runtime, task)
    assert len(ark.calls("GET")) == 1  # cached for clients polling every few seconds


def test_queued_upstream_stays_cancellable(tmp_path: Path, ark: FakeArk, runtime: Runtime) -> None:
    task = processing_relay_task(runtime, create_upstream(ark, hold=True))
    assert refresh(sync_settings(tmp_path, ark), runtime, task).can_cancel


def test_nothing_upstream_or_provider_down_leaves_the_task_alone(tmp_path: Path, ark: FakeArk,
                                                                  runtime: Runtime) -> None:
    task = processing_relay_task(runtime, None)
    assert refresh(sync_settings(tmp_path, ark), runtime, task) is task
    ark.fail_requests(5, status=503)
    with_id = task.with_(engine_state={"upstream_task_id": "cgt-x"})
    assert refresh(sync_settings(tmp_path, ark), runtime, with_id) is with_id
    down = Settings(data_dir=tmp_path / "data", ark_api_key="x", ark_base_url="http://127.0.0.1:9/api/v3")
    relay_sync._cache.clear()
    assert refresh(down, runtime, with_id) is with_id
