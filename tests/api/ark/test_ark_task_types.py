"""`omni_reference_task_type` (Seedance 2.5) through the official Ark SDK (`extra_body`, as the SDK passes it)
and FoxAPI's extension field: an edit with `duration: -1` and `adaptive` renders at the video's length and
frame on the compositor, keeping its timing and taking the prompt's grade; Ark's rules (a video reference,
ratio adaptive, edit's duration -1, models that take it, engines that can) are refused naming the field."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from volcenginesdkarkruntime import AsyncArk
from volcenginesdkarkruntime._exceptions import ArkAPIStatusError

from refvid.worker.supervisor import Worker
from tests.api.ark.conftest import data_url
from tests.api.ark.test_ark_sdk import poll
from tests.support import media_factory as mf
from tests.support.frame_motion import decode_rgb, saturation
from tests.support.keys import API_KEY
from tests.support.video_checks import assert_contract

SEEDANCE_25, SEEDANCE_20 = "dreamina-seedance-2-5-260628", "dreamina-seedance-2-0-260128"
AUTH = {"Authorization": f"Bearer {API_KEY}"}


def video_item(url: str) -> dict[str, Any]:
    return {"type": "video_url", "video_url": {"url": url}, "role": "reference_video"}


async def test_edit_keeps_the_videos_length_frame_and_timing(ark: AsyncArk, http: httpx.AsyncClient, worker: Worker,
                                                            tmp_path: Path) -> None:
    url = data_url(mf.make_flash_video(tmp_path / "flash.mp4"), "video/mp4")
    created = await ark.content_generation.tasks.create(
        model=SEEDANCE_25, content=[{"type": "text", "text": "@Video1 in black and white"}, video_item(url)],
        resolution="480p", ratio="adaptive", duration=-1, generate_audio=False,
        extra_body={"omni_reference_task_type": "edit"})
    task = await poll(ark, created.id)
    assert task.status == "succeeded", task
    assert (task.duration, task.ratio) == (4, "16:9")  # the 4 s, 480×272 video's length and frame
    (tmp_path / "out.mp4").write_bytes((await http.get(task.content.video_url)).content)
    assert_contract(tmp_path / "out.mp4", 864, 496, 4, has_audio=False)
    frames = decode_rgb(tmp_path / "out.mp4")
    assert np.flatnonzero(np.array([f.mean() for f in frames]) > 200).tolist() == [36, 37, 38]  # 1.5 s
    assert saturation(frames[10]) < 8  # regraded: black and white


ARK_REFUSALS: list[tuple[str, str, dict[str, Any], str, str]] = [
    # (case, model, create arguments, Ark code, words of the message)
    ("2.0 takes none", SEEDANCE_20, {"ratio": "adaptive", "duration": -1}, "InvalidParameter",
     "omni_reference_task_type edit is not available for seedance-2.0-reference-to-video; it takes auto"),
    ("ratio", SEEDANCE_25, {"ratio": "16:9", "duration": -1}, "InvalidParameter.TaskTypeConstraint",
     "needs ratio adaptive (got 16:9)"),
    ("duration", SEEDANCE_25, {"ratio": "adaptive", "duration": 5}, "InvalidParameter.TaskTypeConstraint",
     "edit needs duration -1 (got 5)"),
]


@pytest.mark.parametrize(("case", "model", "args", "code", "words"), ARK_REFUSALS, ids=[c[0] for c in ARK_REFUSALS])
async def test_ark_rules_name_the_field(ark: AsyncArk, case: str, model: str, args: dict[str, Any], code: str,
                                        words: str) -> None:
    content = [{"type": "text", "text": "@Video1"}, video_item("https://example.com/a.mp4")]
    with pytest.raises(ArkAPIStatusError) as caught:
        await ark.content_generation.tasks.create(model=model, content=content, **args,
                                                  extra_body={"omni_reference_task_type": "edit"})
    assert (caught.value.status_code, caught.value.code) == (400, code)
    assert words in caught.value.message and "omni_reference_task_type" in caught.value.message


FOX = {"model": "seedance-2.5-reference-to-video", "prompt": "@Video1 goes on", "ratio": "adaptive",
       "video_urls": ["https://example.com/a.mp4"]}
FOX_REFUSALS: list[tuple[str, dict[str, Any], str]] = [
    ("not a task type", {"omni_reference_task_type": "editing"}, "invalid_omni_reference_task_type"),
    ("extend needs a video", {"omni_reference_task_type": "extend", "video_urls": [],
                              "image_urls": ["https://example.com/a.png"]}, "task_type_constraint"),
    ("extend needs adaptive", {"omni_reference_task_type": "extend", "ratio": "1:1"}, "task_type_constraint"),
]


@pytest.mark.parametrize(("case", "changes", "code"), FOX_REFUSALS, ids=[c[0] for c in FOX_REFUSALS])
async def test_foxapi_rules_name_the_field(http: httpx.AsyncClient, case: str, changes: dict[str, Any],
                                           code: str) -> None:
    answer = await http.post("/v1/videos/generations", headers=AUTH, json={**FOX, **changes})
    assert answer.status_code == 422, answer.text
    error = answer.json()["error"]
    assert (error["param"], error["code"]) == ("omni_reference_task_type", code), error


@pytest.mark.settings(routes=["seedance-2.5-reference-to-video=diffusion"])
async def test_an_engine_that_cannot_extend_refuses_at_submit(http: httpx.AsyncClient) -> None:
    answer = await http.post("/v1/videos/generations", headers=AUTH,
                             json={**FOX, "omni_reference_task_type": "extend", "generate_audio": False,
                                   "resolution": "480p"})
    assert answer.status_code == 422, answer.text
    error = answer.json()["error"]
    assert (error["param"], error["code"]) == ("omni_reference_task_type", "unsupported_task_type")
    assert "diffusion engine, which takes auto, reference" in error["message"]
    plain = await http.post("/v1/videos/generations", headers=AUTH,
                            json={**FOX, "generate_audio": False, "resolution": "480p", "duration": 5})
    assert plain.status_code == 200, plain.text  # the model itself is served there
