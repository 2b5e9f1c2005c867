"""A fake SGLang Diffusion `/v1/videos` server, following `../shared/reference/upstreams.md` §2 to the letter:

- POST /v1/videos: JSON or multipart. JSON: `extra_body`/`extra_json` (dict or string) merged to the top
  level; multipart: `extra_body`/`extra_params` JSON strings merged, `input_reference` a file. Extra keys
  allowed; `prompt` required. Errors are FastAPI's `{"detail": "…"}` (400 bad input, 404 unknown).
- GET /v1/videos/{id}: status queued → completed | failed (in_progress never set), progress 0 → 100, `seconds`
  a string, `url: null`, `error {message}` without a code.
- GET /v1/videos/{id}/content: 404 while unknown or in progress, else the MP4.
- DELETE /v1/videos/{id}: drops the record only (the job is not aborted); answers the job, status "deleted".
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from tests.support.fakes.videos_api import FakeJob, FakeVideosServer, Part, read_form


def detail(message: str, status: int) -> JSONResponse:
    return JSONResponse({"detail": message}, status_code=status)


class FakeSGLang(FakeVideosServer):
    def job_json(self, job: FakeJob, status: str | None = None) -> dict[str, Any]:
        status = status or job.status(time.monotonic())
        status = "queued" if status == "in_progress" else status  # SGLang never reports in_progress
        return {"id": job.id, "object": "video", "model": job.fields.get("model") or self.served_model,
                "status": status, "progress": 100 if status == "completed" else 0, "created_at": int(time.time()),
                "completed_at": int(time.time()) if status == "completed" else None, "expires_at": None,
                "size": job.fields.get("size", ""), "seconds": str(job.fields.get("seconds", 4)),
                "quality": "standard", "url": None,
                "error": {"message": job.message} if status == "failed" else None,
                "file_path": None, "num_outputs": 1, "peak_memory_mb": 1.0, "inference_time_s": job.run_s}

    async def create(self, request: Request) -> Response:
        content_type = request.headers.get("content-type", "")
        fields: dict[str, Any] = {}
        files: list[Part] = []
        if content_type.startswith("multipart/form-data"):
            fields, files = await read_form(request)
            for key in ("extra_body", "extra_params"):
                if key in fields:
                    try:
                        fields.update(json.loads(fields.pop(key)))
                    except ValueError:
                        return detail(f"{key} must be a JSON object string", 400)
        else:
            try:
                fields = await request.json()
            except ValueError:
                return detail("the body is not JSON", 400)
            for key in ("extra_body", "extra_json"):
                extra = fields.pop(key, None)
                if isinstance(extra, str):
                    extra = json.loads(extra)
                if isinstance(extra, dict):
                    fields.update(extra)
        if not fields.get("prompt"):
            return detail("prompt is required", 400)
        try:
            int(fields.get("seconds", 4))
        except (TypeError, ValueError):
            return detail("seconds must be an integer", 400)
        job = self.new_job(uuid.uuid4().hex, fields, files)
        return JSONResponse(self.job_json(job))

    async def retrieve(self, request: Request) -> Response:
        job = self.jobs.get(request.path_params["video_id"])
        if job is None:
            return detail("Video not found", 404)
        return JSONResponse(self.job_json(job))

    async def content(self, request: Request) -> Response:
        job = self.jobs.get(request.path_params["video_id"])
        if job is None or job.status(time.monotonic()) != "completed":
            return detail("Video not found or still in progress", 404)
        return self.video_response()

    async def delete(self, request: Request) -> Response:
        job = self.jobs.pop(request.path_params["video_id"], None)
        if job is None:
            return detail("Video not found", 404)
        self.deletes.append(job.id)  # the record goes; the job itself would run on
        return JSONResponse(self.job_json(job, status="deleted"))
