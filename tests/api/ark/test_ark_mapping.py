"""An Ark request becomes the TaskSpec the FoxAPI route builds for the same request; the dialect a task came
from survives the store (and rows written before it existed still load); every status has an Ark status."""

from __future__ import annotations

import dataclasses

import httpx
from volcenginesdkarkruntime import AsyncArk

from refvid.api.ark.present import STATUS, ark_status
from refvid.runtime import Runtime
from refvid.tasks.model import Task, TaskSpec, TaskStatus, new_task_id
from tests.support.keys import API_KEY


async def test_ark_and_foxapi_requests_make_the_same_spec(ark: AsyncArk, http: httpx.AsyncClient,
                                                          runtime: Runtime, references: dict[str, str]) -> None:
    images, audio = [references["image1"], references["image2"]], references["audio"]
    prompt = "@图片2 then @Image1, to @Audio1"
    fox = await http.post("/v1/videos/generations", headers={"Authorization": f"Bearer {API_KEY}"}, json={
        "model": "seedance-2.0-fast-reference-to-video", "prompt": prompt, "image_urls": images,
        "audio_urls": [audio], "resolution": "480p", "ratio": "adaptive", "duration": -1, "seed": 9,
        "generate_audio": False})
    assert fox.status_code == 200, fox.text
    created = await ark.content_generation.tasks.create(
        model="doubao-seedance-2-0-fast-260128", content=[
            {"type": "image_url", "image_url": {"url": images[0]}, "role": "reference_image"},
            {"type": "audio_url", "audio_url": {"url": audio}, "role": "reference_audio"},
            {"type": "text", "text": prompt},
            {"type": "image_url", "image_url": {"url": images[1]}, "role": "reference_image"}],
        resolution="480p", ratio="adaptive", duration=-1, seed=9, generate_audio=False, return_last_frame=True,
        camera_fixed=True)
    fox_task, ark_task = runtime.store.get_task(fox.json()["id"]), runtime.store.get_task(created.id)
    assert fox_task is not None and ark_task is not None
    assert ark_task.engine == fox_task.engine
    # data: URLs are stored as one upload per request (api/inline_media.py), so only the URLs' shape may differ
    # …and Ark's deadline applies to a task that names none (Ark's default), FoxAPI's only when asked.
    assert (ark_task.spec.execution_expires_after, fox_task.spec.execution_expires_after) == (172_800, None)
    assert dataclasses.replace(ark_task.spec, dialect="foxapi", dialect_options=(), image_urls=(), audio_urls=(),
                               execution_expires_after=None) \
        == dataclasses.replace(fox_task.spec, image_urls=(), audio_urls=())
    assert [len(spec.image_urls) + len(spec.audio_urls) for spec in (ark_task.spec, fox_task.spec)] == [3, 3]
    assert ark_task.spec.dialect == "ark" and fox_task.spec.dialect == "foxapi"
    assert ark_task.spec.option("model") == "doubao-seedance-2-0-fast-260128"
    assert (ark_task.spec.option("return_last_frame"), ark_task.spec.option("camera_fixed")) == (True, True)
    assert ark_task.spec.option("watermark") is None


def test_spec_round_trip_and_rows_from_before_dialects() -> None:
    spec = TaskSpec(model="m", prompt="p", dialect="ark", dialect_options=(("model", "x"), ("return_last_frame", True)))
    assert TaskSpec.from_dict(spec.to_dict()) == spec
    old_row = {k: v for k, v in TaskSpec(model="m", prompt="p").to_dict().items() if not k.startswith("dialect")}
    loaded = TaskSpec.from_dict(old_row)
    assert (loaded.dialect, loaded.dialect_options, loaded.option("model")) == ("foxapi", (), None)


def test_every_status_has_an_ark_status() -> None:
    assert set(STATUS) == set(TaskStatus)
    task = Task(id=new_task_id(), owner="o", spec=TaskSpec(model="m", prompt="p"), engine="compositor")
    expired = task.with_(status=TaskStatus.FAILED, error={"code": "expired", "message": "never started"})
    assert ark_status(expired) == "expired"
    assert ark_status(task.with_(status=TaskStatus.FAILED, error={"code": "worker_lost"})) == "failed"
    assert ark_status(task.with_(status=TaskStatus.COMPLETED, result={})) == "expired"  # files collected
    assert ark_status(task.with_(status=TaskStatus.COMPLETED, result={"video_key": "k"})) == "succeeded"
