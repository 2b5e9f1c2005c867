"""What a real SGLang diffusion server (0.5.23, `--backend diffusers`, on a CPU) answers on `/v1/videos`.

Plain httpx against the real server, not through refvid: these tests pin the observed shapes the SGLang
provider and its fake rely on (upstreams.md §2), so a fake that drifts from reality can be checked against the
constants below. The clip asked for is tiny (64×64, 5 frames, 1–2 steps), so each job takes seconds.
"""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from typing import Any

import av
import httpx
import pytest

from tests.support.sglang_server import SGLangServer

pytestmark = pytest.mark.slow

# Every key of a job as 0.5.23 answers it (create, retrieve, list entries and DELETE alike).
JOB_KEYS = {"id", "object", "model", "status", "progress", "created_at", "size", "seconds", "quality", "url",
            "urls", "remixed_from_video_id", "completed_at", "expires_at", "error", "file_path", "file_paths",
            "num_outputs", "peak_memory_mb", "inference_time_s", "revised_prompt", "action", "lidar"}
# What a poll sees (0.5.23; upstreams.md §2 read an older version): queued (progress 0), then in_progress with the
# scheduler's per-step progress, never decreasing and capped at 99, then completed (100).
POLLED_STATUSES = {"queued", "in_progress", "completed"}
# A list has OpenAI's cursor fields (upstreams.md §2 says none: also an older version).
LIST_KEYS = {"object", "data", "first_id", "last_id", "has_more"}
TINY: dict[str, Any] = {"size": "64x64", "num_frames": 5, "fps": 8, "num_inference_steps": 2, "seed": 7}


@pytest.fixture
def sglang(sglang_server: SGLangServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sglang_server.url, timeout=30) as client:
        yield client


def _wait_done(client: httpx.Client, job_id: str, timeout_s: float = 180) -> tuple[dict[str, Any], list[Any]]:
    """The finished job and every (status, progress) a poll saw on the way."""
    seen: list[tuple[str, int]] = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        answer = client.get(f"/v1/videos/{job_id}")
        assert answer.status_code == 200, answer.text
        job: dict[str, Any] = answer.json()
        seen.append((job["status"], job["progress"]))
        if job["status"] not in ("queued", "in_progress"):
            return job, seen
        time.sleep(0.3)
    raise AssertionError(f"SGLang job {job_id} not done after {timeout_s} s")


def _assert_queued(job: dict[str, Any], model: str) -> None:
    assert set(job) == JOB_KEYS
    assert job["object"] == "video" and job["model"] == model and job["status"] == "queued"
    assert job["progress"] == 0 and job["error"] is None and job["completed_at"] is None
    assert isinstance(job["seconds"], str) and job["size"] == "64x64"
    assert job["url"] is None and job["urls"] is None


def _assert_completed_mp4(client: httpx.Client, job_id: str) -> None:
    job, seen = _wait_done(client, job_id)
    assert {status for status, _ in seen} <= POLLED_STATUSES
    progress = [percent for _, percent in seen]
    assert progress == sorted(progress) and progress[-1] == 100
    assert all(0 <= percent <= 99 for status, percent in seen if status != "completed")
    assert set(job) == JOB_KEYS
    assert job["status"] == "completed" and job["progress"] == 100 and job["error"] is None
    assert isinstance(job["seconds"], str) and isinstance(job["completed_at"], int)
    assert job["url"] is None and job["urls"] == [None]  # the file is served only by /content
    assert job["file_paths"] == [job["file_path"]] and job["num_outputs"] == 1
    content = client.get(f"/v1/videos/{job_id}/content")
    assert content.status_code == 200 and content.headers["content-type"] == "video/mp4"
    with av.open(io.BytesIO(content.content), mode="r") as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        frames = list(container.decode(stream))
    assert len(frames) >= 1 and (frames[0].width, frames[0].height) == (64, 64)


def test_a_json_job_completes_with_a_real_mp4(sglang: httpx.Client) -> None:
    created = sglang.post("/v1/videos", json={"prompt": "a red ball rolls", "model": "wan-t2v", **TINY})
    assert created.status_code == 200, created.text
    _assert_queued(created.json(), "wan-t2v")  # the request's model is echoed, unchecked
    _assert_completed_mp4(sglang, created.json()["id"])


def test_a_multipart_job_as_the_openai_sdk_sends_it_completes(sglang: httpx.Client) -> None:
    # The SDK always sends multipart/form-data, each field a part without a file name; extra_body keys
    # (here the tiny clip's frames and steps) become further plain fields.
    fields = {"prompt": "a blue cube spins", "model": "Wan2.1-T2V-1.3B-Diffusers", "seconds": "1", **TINY}
    created = sglang.post("/v1/videos", files={name: (None, str(value)) for name, value in fields.items()})
    assert created.status_code == 200, created.text
    _assert_queued(created.json(), "Wan2.1-T2V-1.3B-Diffusers")
    _assert_completed_mp4(sglang, created.json()["id"])


def test_errors_are_fastapi_detail_bodies(sglang: httpx.Client) -> None:
    for path in ("/v1/videos/no-such-job", "/v1/videos/no-such-job/content"):
        unknown = sglang.get(path)
        assert unknown.status_code == 404 and unknown.json() == {"detail": "Video not found"}
    assert sglang.delete("/v1/videos/no-such-job").status_code == 404
    bad_size = sglang.post("/v1/videos", json={"prompt": "x", "size": "abc"})
    assert bad_size.status_code == 400 and "size" in bad_size.json()["detail"]
    no_prompt = sglang.post("/v1/videos", json={"size": "64x64"})
    assert no_prompt.status_code == 400 and "prompt" in no_prompt.json()["detail"]


def test_list_has_a_cursor_and_delete_only_drops_the_record(sglang: httpx.Client) -> None:
    created = sglang.post("/v1/videos", json={"prompt": "a green cone", **TINY, "num_inference_steps": 1})
    job_id = created.json()["id"]
    listed = sglang.get("/v1/videos")
    assert listed.status_code == 200 and set(listed.json()) == LIST_KEYS
    assert listed.json()["object"] == "list" and job_id in {job["id"] for job in listed.json()["data"]}
    _wait_done(sglang, job_id)
    deleted = sglang.delete(f"/v1/videos/{job_id}")
    assert deleted.status_code == 200 and deleted.json()["status"] == "deleted"
    assert sglang.get(f"/v1/videos/{job_id}").status_code == 404
