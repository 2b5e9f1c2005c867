"""What every provider offers the upstream engine, and the request pieces several of them share (H3's task,
references in the served model's order, `data:` URLs, the operator's `[upstream.request]` table)."""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, Protocol, cast

import httpx

from refvid.engines.base import EngineInput
from refvid.engines.mention_labels import labelled_prompt, ordered
from refvid.engines.upstream.transport import UpstreamHttp, job_body
from refvid.errors import TaskFailure
from refvid.media.info import Reference

log = logging.getLogger(__name__)

Sleep = Callable[[float], None]
JobStatus = Literal["queued", "running", "completed", "failed"]
MIME = {"jpeg": "image/jpeg", "png": "image/png", "webp": "image/webp", "mp4": "video/mp4", "mov": "video/quicktime",
        "mp3": "audio/mpeg", "wav": "audio/wav"}
EXTENSIONS = {"jpeg": "jpg", "png": "png", "webp": "webp", "mp4": "mp4", "mov": "mov", "mp3": "mp3", "wav": "wav"}
# `/v1/videos` statuses of both servers (SGLang never sets in_progress in the version read).
STATUSES: dict[str, JobStatus] = {"queued": "queued", "pending": "queued", "in_progress": "running",
                                  "running": "running", "completed": "completed", "failed": "failed"}
REJECTED = frozenset({"400", "413", "415", "422"})
H3_SHORT_EDGE = 768  # MiniMax-H3 serves one short edge; the output is conformed to the contract's size


@dataclass(frozen=True)
class JobState:
    """An upstream job as the engine needs it. `content`: where its video is (a path or a URL on the
    upstream's origin), set once completed; `message`: the upstream's own words when it failed."""

    status: JobStatus
    message: str = ""
    rejected: bool = False
    content: str = ""
    raw: dict[str, Any] = field(default_factory=dict)


class Provider(Protocol):
    name: ClassVar[str]
    # Whether a DELETE stops a job that already runs (vLLM-Omni: yes; SGLang and Ark: no).
    cancels_running: ClassVar[bool]
    # Whether the provider says when a job starts running (SGLang never sets in_progress).
    reports_running: ClassVar[bool]
    # Whether the video is served by the upstream itself (vLLM-Omni, SGLang: fetched only from its origin) or
    # from a public object store (Ark's presigned URLs: fetched through the guarded client, public hosts only).
    results_on_own_origin: ClassVar[bool]

    def submit(self, http: UpstreamHttp, job: EngineInput, sleep: Sleep) -> str: ...

    def poll(self, http: UpstreamHttp, job_id: str, sleep: Sleep) -> JobState: ...

    def cancel(self, http: UpstreamHttp, job_id: str) -> bool: ...


def h3_task(job: EngineInput) -> str:
    """MiniMax-H3's workflow for a job: `fl2va` for first/last frames, `ref2va` with references, else `t2va`."""
    if job.mode == "image":
        return "fl2va"
    return "ref2va" if job.references else "t2va"


def upstream_duration_s(job: EngineInput, http: UpstreamHttp) -> int:
    """The length asked of the upstream: ours, within what the served model makes (conformed afterwards)."""
    family = http.config.capabilities_for(job.model)
    return max(family.min_duration_s, min(family.max_duration_s, job.output.duration_s))


def prompt_for(job: EngineInput, http: UpstreamHttp) -> str:
    return labelled_prompt(job.prompt, job.references, http.config.capabilities.labels)


def references_in_order(job: EngineInput) -> list[Reference]:
    """References in the order the served model numbers them (images, videos, audios; request order each)."""
    return ordered(job.references)


def data_url(ref: Reference) -> str:
    return f"data:{MIME[ref.info.format]};base64,{base64.b64encode(ref.path.read_bytes()).decode('ascii')}"


def file_part(ref: Reference, position: int) -> tuple[str, bytes, str]:
    """(file name, bytes, MIME) of a reference as a multipart file: the server types it by MIME, then name."""
    name = f"{ref.kind}{ref.index + 1}-{position}.{EXTENSIONS[ref.info.format]}"
    return name, ref.path.read_bytes(), MIME[ref.info.format]


def form_value(value: Any) -> str:
    """A multipart field's text: JSON for objects and lists, lower-case booleans, else `str`."""
    if isinstance(value, dict | list):
        return json.dumps(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def merge_request(fields: dict[str, Any], http: UpstreamHttp, nested: str | None = None) -> dict[str, Any]:
    """`fields` with the operator's `[upstream.request]` table on top; its `nested` dict key (vLLM-Omni's
    `extra_params`) is merged key by key rather than replaced."""
    merged = dict(fields)
    for key, value in http.config.request.items():
        if key == nested and isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = {**merged[key], **value}
        else:
            merged[key] = value
    return merged


def job_state(job_id: str, response: httpx.Response, content: str) -> JobState:
    """A `/v1/videos/{id}` answer (any status: vLLM-Omni answers a failed job 4xx/5xx with its JSON) read as a
    `JobState`; `content` is where the video is once completed."""
    body = job_body(response)
    if body is None:
        raise TaskFailure(f"the upstream's answer about job {job_id} is not a job: {response.text[:200]!r}",
                          code="upstream_error")
    status = STATUSES.get(str(body.get("status")))
    if status is None:
        log.warning("upstream job %s has an unknown status %r; reading it as queued", job_id, body.get("status"))
        status = "queued"
    raw_error = body.get("error")
    error = cast(dict[str, Any], raw_error) if isinstance(raw_error, dict) else {}
    rejected = str(error.get("code")) in REJECTED or str(response.status_code) in REJECTED
    return JobState(status=status, message=str(error.get("message") or ""), rejected=rejected, content=content,
                    raw=body)
