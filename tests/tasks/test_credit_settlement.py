"""`duration: -1` reserves what the engine will make when that is known at submit (the compositor with no
video or audio reference: 5 s), else the longest output, and the completion settles the reservation to what the output
cost (its real length × the per-second rate), in the same transaction: the finished task's
`usage.credits_reserved` and the key's budget both show the settled amount."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import httpx
import pytest

from refvid.tasks.model import TaskStatus
from refvid.tasks.store import SqlStore
from refvid.tasks.store.ledger import LedgerStore, credits_for_seconds
from refvid.worker.supervisor import Worker
from tests.support import media_factory as mf
from tests.support.stores import make_task
from tests.support.waiting import wait_for

# 480p costs 1 credit per second: an auto-length task reserves 15, a 4 s output costs 4, so with a budget
# of 19 a second 15 s task fits only once the first one has been settled.
pytestmark = pytest.mark.settings(credit_budget=19)


def body(base: str, **changes: object) -> dict[str, object]:
    return {"model": "seedance-2.0-fast-reference-to-video", "prompt": "@Image1, camera like @Video1",
            "resolution": "480p", "ratio": "4:3", "generate_audio": False, "seed": 3,
            "image_urls": [f"{base}/a.png"], "video_urls": [f"{base}/v.mp4"], **changes}


async def test_auto_duration_reserves_the_maximum_then_costs_its_real_length(
        api: httpx.AsyncClient, worker: Worker, media_server: tuple[str, Path]) -> None:
    base, folder = media_server
    mf.make_image(folder / "a.png", 400, 300, seed=1)
    mf.make_video(folder / "v.mp4", 400, 300, seconds=4.0)  # the compositor's -1 follows the video: 4 s

    created = await api.post("/v1/videos/generations", json=body(base, duration=-1))
    assert created.status_code == 200, created.text
    assert created.json()["usage"]["credits_reserved"] == credits_for_seconds(15, "480p") == 15

    over = await api.post("/v1/videos/generations", json=body(base, duration=15))
    assert over.status_code == 402, over.text  # 15 reserved + 15 asked > 19: the reservation counts

    task = await wait_for(api, created.json()["id"], {"completed", "failed"})
    assert task["status"] == "completed", task["error"]
    assert task["results"][0]["duration"] == 4
    assert task["usage"]["credits_reserved"] == 4

    fits = await api.post("/v1/videos/generations", json=body(base, duration=15))  # 4 + 15 = 19
    assert fits.status_code == 200, fits.text
    assert fits.json()["usage"]["credits_reserved"] == 15  # a fixed duration is reserved as asked
    await api.post(f"/v1/tasks/{fits.json()['id']}/cancel")


async def test_auto_duration_without_timed_references_reserves_what_the_compositor_will_make(
        api: httpx.AsyncClient, worker: Worker, media_server: tuple[str, Path]) -> None:
    base, folder = media_server
    mf.make_image(folder / "a.png", 400, 300, seed=1)
    # No video and no audio: the compositor's `duration: -1` is 5 s, known at submit, so that is reserved.
    created = await api.post("/v1/videos/generations",
                             json=body(base, duration=-1, video_urls=[], prompt="@Image1 turns"))
    assert created.status_code == 200, created.text
    assert created.json()["usage"]["credits_reserved"] == credits_for_seconds(5, "480p") == 5
    task = await wait_for(api, created.json()["id"], {"completed", "failed"})
    assert task["status"] == "completed", task["error"]
    assert task["results"][0]["duration"] == 5 and task["usage"]["credits_reserved"] == 5


async def test_a_fixed_duration_keeps_its_reservation(api: httpx.AsyncClient, worker: Worker,
                                                      media_server: tuple[str, Path]) -> None:
    base, folder = media_server
    mf.make_image(folder / "a.png", 400, 300, seed=1)
    mf.make_video(folder / "v.mp4", 400, 300, seconds=4.0)
    created = await api.post("/v1/videos/generations", json=body(base, duration=5))
    task = await wait_for(api, created.json()["id"], {"completed", "failed"})
    assert task["status"] == "completed", task["error"]
    assert task["usage"]["credits_reserved"] == 5 == created.json()["usage"]["credits_reserved"]


@pytest.mark.parametrize(("duration", "reserved", "settled"), [(-1, 15, 6), (6, 6, 6)])
def test_the_completion_settles_ledger_and_task_in_one_write(store: SqlStore, duration: int, reserved: int,
                                                             settled: int) -> None:
    task = make_task()
    task = dataclasses.replace(task, spec=dataclasses.replace(task.spec, duration=duration), credits=reserved)
    store.insert_task(task)
    claim = store.claim_next("w1", ["compositor"], lease_s=30)
    assert claim is not None and LedgerStore(store).credits_used(task.owner, 0) == reserved
    assert store.finish(task.id, claim.token, TaskStatus.COMPLETED, result={"duration": 6, "seed": 1})
    done = store.get_task(task.id)
    assert done is not None and done.credits == settled
    assert LedgerStore(store).credits_used(task.owner, 0) == settled
