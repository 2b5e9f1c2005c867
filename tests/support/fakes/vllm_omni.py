"""A fake vLLM-Omni `/v1/videos` server, following `../shared/reference/upstreams.md` §1 to the letter:

- POST /v1/videos: multipart/form-data only; `prompt` required; `seconds` must match `^[1-9]\\d*$`, `size`
  `^\\d+x\\d+$`; a `model` other than the served name is 400 "Model mismatch"; `input_references` (files) is
  not combinable with `image_reference`/`video_reference`/`audio_reference` (JSON lists); `extra_params` must
  be a JSON object. Errors use vLLM's `{"error": {"message", "type", "param", "code"}}`, validation → 400.
- GET /v1/videos/{id}: the job (`video_gen_<hex>`, status queued | in_progress | completed | failed, progress
  only 100 at the end); a failed job is answered with HTTP 500 (its `error.code`) *and* the job JSON.
- GET /v1/videos/{id}/content: 404 when unknown or still running, 422 when failed, else the MP4.
- DELETE /v1/videos/{id}: stops a queued or in-progress job; `{id, deleted: true, object: "video.deleted"}`.
"""

from __future__ import annotations

import json
import re
import secrets
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from tests.support.fakes.videos_api import FakeJob, FakeVideosServer, Part, read_form

REFERENCE_FIELDS = ("image_reference", "video_reference", "audio_reference")


def vllm_error(message: str, status: int = 400) -> JSONResponse:
    phrase = {400: "BadRequestError", 404: "NotFoundError", 409: "ConflictError", 422: "UnprocessableEntity"}
    return JSONResponse({"error": {"message": message, "type": phrase.get(status, "Error"), "param": None,
                                   "code": status}}, status_code=status)


class FakeVllmOmni(FakeVideosServer):
    def job_json(self, job: FakeJob) -> dict[str, Any]:
        status = job.status(time.monotonic())
        body: dict[str, Any] = {
            "id": job.id, "object": "video", "model": self.served_model, "prompt": job.fields.get("prompt"),
            "status": status, "progress": 100 if status == "completed" else 0,
            "seconds": job.fields.get("seconds", "4"), "size": job.fields.get("size", "1280x720"),
            "quality": "standard", "created_at": int(time.time()), "completed_at": None, "expires_at": None,
            "remixed_from_video_id": None, "error": None, "media_type": "video/mp4", "file_name": None}
        if status == "failed":
            body["error"] = {"code": 500, "message": job.message}
        if status == "completed":
            body.update(completed_at=int(time.time()), file_name=f"{job.id}.mp4", inference_time_s=job.run_s)
        return body

    async def create(self, request: Request) -> Response:
        if (denied := self.unauthorized(request)) is not None:
            return denied
        if not request.headers.get("content-type", "").startswith("multipart/form-data"):
            return vllm_error("the request must be multipart/form-data")
        fields, files = await read_form(request)
        problem = self.invalid(fields, files)
        if problem:
            return vllm_error(problem)
        job = self.new_job(f"video_gen_{secrets.token_hex(16)}", fields, files)
        return JSONResponse(self.job_json(job))

    def invalid(self, fields: dict[str, Any], files: list[Part]) -> str | None:
        if not fields.get("prompt"):
            return "prompt is required"
        if "seconds" in fields and not re.fullmatch(r"[1-9]\d*", fields["seconds"]):
            return "seconds must match ^[1-9]\\d*$"
        if "size" in fields and not re.fullmatch(r"\d+x\d+", fields["size"]):
            return "size must match ^\\d+x\\d+$"
        if fields.get("model") not in (None, self.served_model):
            return f"Model mismatch: the server serves {self.served_model!r}, not {fields['model']!r}"
        if any(f.field == "input_references" for f in files) and any(k in fields for k in REFERENCE_FIELDS):
            return "input_references cannot be combined with image_reference/video_reference/audio_reference"
        for key in (*REFERENCE_FIELDS, "extra_params"):
            if key in fields:
                try:
                    parsed = json.loads(fields[key])
                except ValueError:
                    return f"{key} must be JSON"
                if key == "extra_params" and not isinstance(parsed, dict):
                    return "extra_params must be a JSON object"
        return None

    async def retrieve(self, request: Request) -> Response:
        if (denied := self.unauthorized(request)) is not None:
            return denied
        job = self.jobs.get(request.path_params["video_id"])
        if job is None or job.deleted:
            return vllm_error("Video not found", 404)
        body = self.job_json(job)
        return JSONResponse(body, status_code=500 if body["status"] == "failed" else 200)

    async def content(self, request: Request) -> Response:
        job = self.jobs.get(request.path_params["video_id"])
        if job is None or job.deleted or job.status(time.monotonic()) in ("queued", "in_progress"):
            return vllm_error("Video not found or not ready", 404)
        if job.status(time.monotonic()) == "failed":
            return vllm_error("Video generation failed", 422)
        return self.video_response()

    async def delete(self, request: Request) -> Response:
        job = self.jobs.get(request.path_params["video_id"])
        if job is None or job.deleted:
            return vllm_error("Video not found", 404)
        self.deletes.append(job.id)
        job.deleted = True
        return JSONResponse({"id": job.id, "deleted": True, "object": "video.deleted"})
