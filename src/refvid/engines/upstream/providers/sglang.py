"""SGLang Diffusion's `/v1/videos` (docs/upstreams.md; sgl-project/sglang `multimodal_gen/.../openai`):

- create: `POST /v1/videos` as JSON or multipart (the pool entry's `submit`). JSON: the fields at the top level
  (`extra_body` would be merged there anyway); multipart: form fields, MiniMax-H3's objects in an `extra_body`
  JSON string, one `input_reference` file for the other families (only the first image is used).
  MiniMax-H3: `task`, `conditions` = [{type image|video|video_audio|audio, uri (a `data:` URL), role
  "reference"}] in the model's order, `target` = {short_edge, aspect_ratio, duration_seconds}.
- read: `GET /v1/videos/{id}`: queued → completed | failed (in_progress is never set in the version read, and
  progress jumps 0 → 100); `error {message}` without a code; `url` set only when it uploaded to S3.
- video: `GET /v1/videos/{id}/content` (404 while running); a `url` elsewhere than the upstream is refused.
- cancel: none. DELETE only drops the record ("TODO: support aborting"): a job, once submitted, runs to its end,
  so the task is not cancellable from then on (`can_cancel: false`).
- errors: FastAPI's `{"detail": "…"}` (400 bad input, 404 unknown).
"""

from __future__ import annotations

import json
import logging
from typing import Any, ClassVar

from refvid.engines.base import EngineInput
from refvid.engines.upstream.providers.base import (
    H3_SHORT_EDGE,
    JobState,
    Sleep,
    data_url,
    file_part,
    form_value,
    h3_task,
    job_state,
    merge_request,
    prompt_for,
    references_in_order,
    upstream_duration_s,
)
from refvid.engines.upstream.transport import UpstreamHttp, job_body
from refvid.errors import TaskFailure
from refvid.media.info import Reference

log = logging.getLogger(__name__)
VIDEOS = "/v1/videos"
H3_KEYS = ("task", "conditions", "target", "audio_flow_shift")


def condition(ref: Reference) -> dict[str, Any]:
    kind = "video_audio" if ref.kind == "video" and ref.info.has_audio else ref.kind
    return {"type": kind, "uri": data_url(ref), "role": "reference"}


class SGLang:
    name: ClassVar[str] = "sglang"
    cancels_running: ClassVar[bool] = False
    results_on_own_origin: ClassVar[bool] = True
    reports_running: ClassVar[bool] = False

    def body(self, http: UpstreamHttp, job: EngineInput) -> dict[str, Any]:
        """The job's fields, before choosing JSON or multipart."""
        family, out = http.config.capabilities, job.output
        seconds = upstream_duration_s(job, http)
        fields: dict[str, Any] = {"prompt": prompt_for(job, http), "seconds": seconds, "seed": out.seed}
        if http.config.model:
            fields["model"] = http.config.model
        if family.name == "minimax-h3":
            fields["task"] = h3_task(job)
            fields["conditions"] = [condition(ref) for ref in references_in_order(job)]
            if fields["task"] == "fl2va":
                for position, item in enumerate(fields["conditions"]):
                    item.update(role="keyframe", frame_index=[0, -1][min(position, 1)])
            fields["target"] = {"short_edge": H3_SHORT_EDGE, "aspect_ratio": out.ratio, "duration_seconds": seconds}
        else:
            fields.update(size=f"{out.width}x{out.height}", fps=out.fps)
        return merge_request(fields, http)

    def submit(self, http: UpstreamHttp, job: EngineInput, sleep: Sleep) -> str:
        fields = self.body(http, job)
        if http.config.submit == "json":
            first_image = next(iter(job.images), None)
            if first_image is not None and "conditions" not in fields:
                fields.setdefault("input_reference", data_url(first_image))
            response = http.call("POST", VIDEOS, "create the job", sleep, create=True, json=fields)
        else:
            response = http.call("POST", VIDEOS, "create the job", sleep, create=True, files=self.form(job, fields))
        job_id = (job_body(response) or {}).get("id")
        if not isinstance(job_id, str) or not job_id:
            raise TaskFailure(f"upstream {http.config.name} accepted the job but returned no id", code="upstream_error")
        return job_id

    @staticmethod
    def form(job: EngineInput, fields: dict[str, Any]) -> list[tuple[str, Any]]:
        """Multipart parts: plain fields as text, H3's objects inside `extra_body`, one image file."""
        extra = {key: fields.pop(key) for key in H3_KEYS if key in fields}
        parts: list[tuple[str, Any]] = [(key, (None, form_value(value))) for key, value in fields.items()]
        if extra:
            parts.append(("extra_body", (None, json.dumps(extra))))
        elif job.images:
            parts.append(("input_reference", file_part(job.images[0], 0)))
        return parts

    def poll(self, http: UpstreamHttp, job_id: str, sleep: Sleep) -> JobState:
        response = http.call("GET", f"{VIDEOS}/{job_id}", "read the job", sleep)
        body = job_body(response) or {}
        url = body.get("url")
        return job_state(job_id, response, url if isinstance(url, str) and url else f"{VIDEOS}/{job_id}/content")

    def cancel(self, http: UpstreamHttp, job_id: str) -> bool:
        """SGLang cannot abort a job (its DELETE only forgets the record, leaving the job running)."""
        return False


SGLANG = SGLang()
