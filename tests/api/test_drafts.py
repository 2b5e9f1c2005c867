"""Draft → final in the FoxAPI dialect (extension fields `draft` and `draft_task_id`, api/drafts.py): a draft's
uploads outlive the 72 h of an upload and its result's collection, and its final still renders its shot with
its drawn seed; what is not a finished draft of the caller is a 422 naming `draft_task_id`."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import av
import httpx
import numpy as np
import pytest

from refvid.api.drafts import final_request
from refvid.api.schemas import CreateVideoRequest
from refvid.config import Settings
from refvid.contract import DRAFT_TTL_S, ModelOffer
from refvid.errors import ValidationFailed
from refvid.runtime import Runtime
from refvid.tasks.collection import GarbageCollector
from refvid.tasks.model import Task, TaskSpec, TaskStatus
from refvid.tasks.store.files import upload_id_of
from refvid.worker.supervisor import Worker
from tests.api.ark.conftest import data_url
from tests.support import media_factory as mf
from tests.support.keys import OTHER_KEY
from tests.support.waiting import wait_for

MODEL = "seedance-2.5-reference-to-video"
DAY_S = 86400


@pytest.fixture
def images(tmp_path: Path) -> list[str]:
    return [data_url(mf.make_image(tmp_path / "a.png", 400, 300, seed=3), "image/png"),
            data_url(mf.make_image(tmp_path / "b.png", 300, 400, seed=4), "image/png")]


def draft_body(images: list[str], **changes: Any) -> dict[str, Any]:
    return {"model": MODEL, "prompt": "@Image1 and @Image2", "image_urls": images, "ratio": "1:1", "duration": 4,
            "generate_audio": False, "draft": True, **changes}


async def frames_of(api: httpx.AsyncClient, task: dict[str, Any], path: Path) -> np.ndarray:
    path.write_bytes((await api.get(task["results"][0]["url"])).content)
    with av.open(str(path)) as container:
        return np.stack([frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)])


def upload_expiries(runtime: Runtime, task_id: str) -> list[float]:
    """When the uploads a task references expire (None once collected)."""
    task = runtime.store.get_task(task_id)
    assert task is not None
    rows = [runtime.store.get_file(upload_id_of(url) or "") for url in task.spec.image_urls]
    return [float(row["expires_at"]) if row else 0.0 for row in rows]


async def test_a_draft_outlives_collection_and_its_final_renders_its_shot(
        api: httpx.AsyncClient, worker: Worker, runtime: Runtime, settings: Settings, images: list[str],
        tmp_path: Path) -> None:
    created = (await api.post("/v1/videos/generations", json=draft_body(images))).json()
    draft = await wait_for(api, created["id"], {"completed", "failed"})
    assert draft["status"] == "completed", draft
    assert (draft["results"][0]["width"], draft["results"][0]["height"]) == (640, 640)
    assert min(upload_expiries(runtime, draft["id"])) >= time.time() + DRAFT_TTL_S - 60
    first = await frames_of(api, draft, tmp_path / "draft.mp4")

    # Four days on: an upload's 72 h and the result's 24 h are over, the draft's 7 days are not.
    GarbageCollector(runtime.store, runtime.blobs, settings.result_ttl_s).run_pass(now_s=time.time() + 4 * DAY_S)
    assert min(upload_expiries(runtime, draft["id"])) > 0
    collected = runtime.store.get_task(draft["id"])
    assert collected is not None and collected.result == {"expired": True}  # its files and result are gone

    with sqlite3.connect(settings.resolved_database_url.removeprefix("sqlite:///")) as db:  # about to expire
        db.execute("UPDATE files SET expires_at = ?", (int(time.time()) + 60,))
    answer = await api.post("/v1/videos/generations", json={"model": MODEL, "draft_task_id": draft["id"],
                                                            "resolution": "480p"})
    assert answer.status_code == 200, answer.text
    assert min(upload_expiries(runtime, draft["id"])) >= time.time() + settings.upload_ttl_s - 60  # queue time
    final = await wait_for(api, answer.json()["id"], {"completed", "failed"})
    assert final["status"] == "completed", final
    stored = runtime.store.get_task(final["id"])
    assert stored is not None and (stored.spec.draft_task_id, stored.spec.draft) == (draft["id"], False)
    assert final["results"][0]["seed"] == draft["results"][0]["seed"]
    # The same inputs (the draft's uploads), seed and size: the compositor renders the draft's frames again.
    again = await frames_of(api, final, tmp_path / "final.mp4")
    assert again.shape == first.shape == (96, 640, 640, 3)
    assert float(np.abs(again.astype(np.int16) - first.astype(np.int16)).mean()) < 0.5


async def test_what_is_not_a_finished_draft_of_the_caller_is_refused(
        api: httpx.AsyncClient, client_for: Callable[..., Any], images: list[str]) -> None:
    async def refused(body: dict[str, Any], client: httpx.AsyncClient = api) -> dict[str, Any]:
        answer = await client.post("/v1/videos/generations", json=body)
        assert answer.status_code == 422, answer.text
        error: dict[str, Any] = answer.json()["error"]
        return error

    pending = (await api.post("/v1/videos/generations", json=draft_body(images))).json()
    plain = (await api.post("/v1/videos/generations", json=draft_body(images, draft=False))).json()
    unknown = await refused({"model": MODEL, "draft_task_id": "task-unified-0-nosuchid"})
    assert (unknown["code"], unknown["param"]) == ("invalid_draft_task", "draft_task_id")
    async with client_for(key=OTHER_KEY) as other:
        strange = await refused({"model": MODEL, "draft_task_id": pending["id"]}, other)
    assert strange == {**unknown, "message": unknown["message"].replace("task-unified-0-nosuchid", pending["id"])}
    assert "is pending" in (await refused({"model": MODEL, "draft_task_id": pending["id"]}))["message"]
    assert "is not a draft" in (await refused({"model": MODEL, "draft_task_id": plain["id"]}))["message"]

    older = await refused(draft_body(images, model="seedance-2.0-reference-to-video"))
    assert older["param"] == "draft" and "offers no drafts" in older["message"]
    assert (await refused(draft_body(images, resolution="720p")))["param"] == "resolution"
    assert (await refused(draft_body(images, draft_task_id=pending["id"])))["param"] == "draft"
    models = {m["id"]: m for m in (await api.get("/v1/models")).json()["data"]}
    assert {"draft", "draft_task_id"} <= set(models[MODEL]["accepts"])
    assert "draft" not in models["seedance-2.0-reference-to-video"]["accepts"]


def completed_draft(**spec: Any) -> Task:
    return Task(id="task-unified-1-drafting", owner="k", engine="compositor", status=TaskStatus.COMPLETED,
                spec=TaskSpec(model=MODEL, prompt="@Image1 dances", resolution="480p", ratio="16:9", duration=6,
                              image_urls=("https://example.com/a.png",), draft=True, **spec),
                result={"expired": True}, engine_state={"seed": 4242})


def test_a_final_is_its_drafts_request_at_the_highest_resolution_served() -> None:
    served = {MODEL: ModelOffer(MODEL, "compositor", ("480p", "720p", "1080p"), True)}
    final = final_request(CreateVideoRequest(model="seedance-2.5-text-to-video", draft_task_id="x"),
                          completed_draft(generate_audio=False), served)
    assert (final.model, final.resolution, final.seed, final.duration, final.ratio) == (MODEL, "1080p", 4242, 6,
                                                                                        "16:9")
    assert (final.prompt, final.image_urls, final.generate_audio) == ("@Image1 dances", ["https://example.com/a.png"],
                                                                     False)
    same = CreateVideoRequest(model=MODEL, draft_task_id="x", duration=6, seed=4242, resolution="720p")
    assert final_request(same, completed_draft(), served).resolution == "720p"
    for changed, param in (({"duration": 5}, "duration"), ({"aspect_ratio": "1:1"}, "aspect_ratio"),
                           ({"image_urls": []}, "image_urls"), ({"model": "seedance-2.0-reference-to-video"}, "model")):
        request = CreateVideoRequest.model_validate({"model": MODEL, "draft_task_id": "x", **changed})
        with pytest.raises(ValidationFailed) as caught:
            final_request(request, completed_draft(), served)
        assert caught.value.param == param
