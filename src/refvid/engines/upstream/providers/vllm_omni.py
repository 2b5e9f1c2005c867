"""vLLM-Omni's `/v1/videos` (docs/upstreams.md, vllm-project/vllm-omni `entrypoints/openai`):

- create: `POST /v1/videos`, multipart/form-data only: `prompt`, `model` (the served name; a different one is
  400 "Model mismatch"), `seconds` (a string), `size` or H3's `aspect_ratio` + `short_edge`, `seed`, and
  `extra_params` (a JSON object string; MiniMax-H3's `task` ref2va | t2va | fl2va and `duration` go there).
  References: repeated `input_references` files (typed by MIME, then extension), or the JSON lists
  `image_reference` / `video_reference` / `audio_reference` of `{image_url: "data:…"}` objects. Either way in the
  model's order (images, videos, audios), so `<Picture 1>` is `image_urls[0]`.
- read: `GET /v1/videos/{id}`: status queued | in_progress | completed | failed; progress only ever 100 at the
  end; a failed job answers 4xx/5xx *with* the job JSON (`error {code, message}`).
- video: `GET /v1/videos/{id}/content` (404 while running, 422 when failed).
- cancel: `DELETE /v1/videos/{id}` stops a queued or running job (409 when it did not stop within 2 s).
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar

import httpx

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

log = logging.getLogger(__name__)
VIDEOS = "/v1/videos"
CANCEL_TIMEOUT_S = 3.0


class VllmOmni:
    name: ClassVar[str] = "vllm-omni"
    cancels_running: ClassVar[bool] = True
    results_on_own_origin: ClassVar[bool] = True
    reports_running: ClassVar[bool] = True

    def form(self, http: UpstreamHttp, job: EngineInput) -> list[tuple[str, Any]]:
        """The multipart parts of the create call: form fields as `(name, (None, text))`, so that httpx sends
        multipart even without files (the server has no urlencoded or JSON path), then the files."""
        family, out = http.config.capabilities, job.output
        seconds = upstream_duration_s(job, http)
        fields: dict[str, Any] = {"prompt": prompt_for(job, http), "seconds": str(seconds), "seed": out.seed}
        if http.config.model:
            fields["model"] = http.config.model
        if family.name == "minimax-h3":
            fields.update(aspect_ratio=out.ratio, short_edge=H3_SHORT_EDGE)
            extra: dict[str, Any] = {"task": h3_task(job), "duration": float(seconds)}
            if extra["task"] == "fl2va":
                extra["frame_indices"] = [0, -1][: len(job.images)]
            fields["extra_params"] = extra
        else:
            fields.update(size=f"{out.width}x{out.height}", fps=out.fps)
            if family.audio:
                fields["generate_sound"] = out.generate_audio
        fields = merge_request(fields, http, nested="extra_params")
        parts: list[tuple[str, Any]] = [(key, (None, form_value(value))) for key, value in fields.items()]
        refs = references_in_order(job)
        if http.config.references == "files":
            parts += [("input_references", file_part(ref, i)) for i, ref in enumerate(refs)]
        else:
            for kind in ("image", "video", "audio"):
                items = [{f"{kind}_url": data_url(ref)} for ref in refs if ref.kind == kind]
                if items:
                    parts.append((f"{kind}_reference", (None, form_value(items))))
        return parts

    def submit(self, http: UpstreamHttp, job: EngineInput, sleep: Sleep) -> str:
        response = http.call("POST", VIDEOS, "create the job", sleep, create=True, files=self.form(http, job))
        job_id = (job_body(response) or {}).get("id")
        if not isinstance(job_id, str) or not job_id:
            raise TaskFailure(f"upstream {http.config.name} accepted the job but returned no id", code="upstream_error")
        return job_id

    def poll(self, http: UpstreamHttp, job_id: str, sleep: Sleep) -> JobState:
        response = http.call("GET", f"{VIDEOS}/{job_id}", "read the job", sleep)
        return job_state(job_id, response, f"{VIDEOS}/{job_id}/content")

    def cancel(self, http: UpstreamHttp, job_id: str) -> bool:
        """One quick DELETE (it runs inside the cancellation grace): True when the job stopped."""
        try:
            response = http.delete_once(f"{VIDEOS}/{job_id}", CANCEL_TIMEOUT_S)
        except httpx.HTTPError as exc:
            log.warning("cancelling upstream job %s failed: %s", job_id, exc)
            return False
        if not response.is_success:
            log.warning("upstream refused to cancel job %s (HTTP %s)", job_id, response.status_code)
        return response.is_success


VLLM_OMNI = VllmOmni()
