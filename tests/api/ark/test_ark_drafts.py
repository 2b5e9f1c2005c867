"""Draft → final through the official Ark SDK on the CPU compositor (issue 23): a `draft: true` task renders at
480p with a drawn seed; a final whose content is only `{"type": "draft_task", "draft_task": {"id"}}` renders
the same shot at 720p with that seed, checked on decoded frames (the final downscaled to the draft's size
against the draft); an unknown, another key's, expired or unfinished draft is refused naming the item."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

import av
import cv2
import httpx
import numpy as np
import pytest
from volcenginesdkarkruntime import AsyncArk
from volcenginesdkarkruntime._exceptions import ArkAPIStatusError

from refvid.config import Settings
from refvid.contract import DRAFT_TTL_S
from refvid.worker.supervisor import Worker
from tests.api.ark.test_ark_sdk import poll
from tests.support.apps import BASE
from tests.support.keys import OTHER_KEY

SEEDANCE_25 = "dreamina-seedance-2-5-260628"
# Measured on this compositor (1:1, 4 s, two images): the final downscaled differs from its draft by ≈1.6 per
# pixel and channel (0–255; resampling and encoding); a draft of another seed differs by ≈11.
MATCHING_MAD = 4.0


def draft_task(task_id: str) -> dict[str, Any]:
    return {"type": "draft_task", "draft_task": {"id": task_id}}


def shot(references: dict[str, str]) -> list[dict[str, Any]]:
    """A prompt that leaves the camera to the seed, so the seed decides the shot."""
    return [{"type": "text", "text": "@Image1 and @Image2"},
            {"type": "image_url", "image_url": {"url": references["image1"]}, "role": "reference_image"},
            {"type": "image_url", "image_url": {"url": references["image2"]}, "role": "reference_image"}]


async def frames_of(http: httpx.AsyncClient, url: str, path: Path) -> list[np.ndarray]:
    path.write_bytes((await http.get(url)).content)
    with av.open(str(path)) as container:
        return [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]


async def refused(ark: AsyncArk, content: list[dict[str, Any]], **changes: Any) -> ArkAPIStatusError:
    with pytest.raises(ArkAPIStatusError) as caught:
        await ark.content_generation.tasks.create(model=SEEDANCE_25, content=content, **changes)
    return caught.value


def age_task(settings: Settings, task_id: str, age_s: float) -> None:
    """Make a stored task `age_s` old, in the real SQLite file (not by waiting 7 days)."""
    with sqlite3.connect(settings.resolved_database_url.removeprefix("sqlite:///")) as db:
        db.execute("UPDATE tasks SET created_at = ? WHERE id = ?", (time.time() - age_s, task_id))


async def test_draft_then_final_is_the_same_shot_at_720p(ark: AsyncArk, http: httpx.AsyncClient, worker: Worker,
                                                         references: dict[str, str], settings: Settings,
                                                         tmp_path: Path) -> None:
    created = await ark.content_generation.tasks.create(model=SEEDANCE_25, content=shot(references), draft=True,
                                                        ratio="1:1", duration=4, generate_audio=False)
    draft = await poll(ark, created.id)
    assert draft.status == "succeeded", draft
    assert (draft.draft, draft.resolution, draft.ratio) == (True, "480p", "1:1") and draft.seed is not None

    made = await ark.content_generation.tasks.create(model=SEEDANCE_25, content=[draft_task(draft.id)],
                                                     resolution="720p")
    final = await poll(ark, made.id)
    assert final.status == "succeeded", final
    assert (final.draft, final.draft_task_id, final.seed) == (False, draft.id, draft.seed)
    assert (final.resolution, final.ratio, final.duration, final.generate_audio) == ("720p", "1:1", 4, False)

    small = await frames_of(http, draft.content.video_url, tmp_path / "draft.mp4")
    large = await frames_of(http, final.content.video_url, tmp_path / "final.mp4")
    assert (small[0].shape, large[0].shape, len(small)) == ((640, 640, 3), (960, 960, 3), len(large))
    differences = [np.abs(cv2.resize(big, (640, 640), interpolation=cv2.INTER_AREA).astype(np.int16)
                          - little.astype(np.int16)).mean() for little, big in zip(small, large, strict=True)]
    assert float(np.mean(differences)) < MATCHING_MAD, differences

    # The same draft is not another key's, nor finalisable after 7 days, nor with another prompt.
    other = AsyncArk(base_url=f"{BASE}/api/v3", api_key=OTHER_KEY, http_client=http, max_retries=0)
    strange = await refused(other, [draft_task(draft.id)])
    unknown = await refused(ark, [draft_task("task-unified-0-nosuchid")])
    assert strange.message == unknown.message.replace("task-unified-0-nosuchid", draft.id)
    changed = await refused(ark, [draft_task(draft.id), {"type": "text", "text": "a new idea"}])
    assert (changed.code, changed.param) == ("InvalidParameter", "content[1].text") and "reuses" in changed.message
    age_task(settings, draft.id, DRAFT_TTL_S + 60)
    expired = await refused(ark, [draft_task(draft.id)])
    assert (expired.code, expired.param) == ("InvalidParameter", "content[0].draft_task.id")
    assert "expired" in expired.message


async def test_finals_of_what_is_not_a_finished_draft_are_refused(ark: AsyncArk,
                                                                  references: dict[str, str]) -> None:
    unknown = await refused(ark, [draft_task("task-unified-0-nosuchid")])
    assert (unknown.status_code, unknown.code, unknown.param) == (400, "InvalidParameter", "content[0].draft_task.id")
    assert "draft task 'task-unified-0-nosuchid' not found" in unknown.message

    plain = await ark.content_generation.tasks.create(model=SEEDANCE_25, content=shot(references))
    pending = await ark.content_generation.tasks.create(model=SEEDANCE_25, content=shot(references), draft=True)
    assert (await ark.content_generation.tasks.get(task_id=pending.id)).draft is True
    assert "is not a draft" in (await refused(ark, [draft_task(plain.id)])).message
    assert "is pending" in (await refused(ark, [draft_task(pending.id)])).message
    both = await refused(ark, [draft_task(pending.id)], draft=True)
    assert both.param == "draft"
    sharp = await refused(ark, shot(references), draft=True, resolution="720p")
    assert sharp.param == "resolution" and "480p" in sharp.message
