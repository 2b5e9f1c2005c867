"""POST /v1/videos/generations."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from refvid.api.deps import Owner, RuntimeDep, ServiceDep, parse_body, read_json_body
from refvid.api.errors import ApiError, documented_errors
from refvid.api.limits import Limits
from refvid.api.present import present_task
from refvid.api.schemas import CreateVideoRequest, TaskObject
from refvid.api.validation import validate_create
from refvid.engines.registry import served_models
from refvid.tasks.model import TaskSpec
from refvid.tasks.service import request_fingerprint
from refvid.webhooks.dispatcher import callback_url_problem

router = APIRouter()
ERRORS = documented_errors(400, 401, 402, 409, 413, 422, 429, 503)


@router.post(
    "/v1/videos/generations", response_model=TaskObject, response_model_exclude_none=True, responses=ERRORS,
    summary="Create a reference-to-video task",
    openapi_extra={"requestBody": {"required": True, "content": {"application/json": {
        "schema": {"$ref": "#/components/schemas/CreateVideoRequest"}}}}},
)
async def create_video(request: Request, response: Response, owner: Owner, runtime: RuntimeDep,
                       service: ServiceDep) -> TaskObject:
    body = await read_json_body(request, runtime.settings.max_body_bytes)
    req = parse_body(CreateVideoRequest, body)
    served = served_models(runtime.settings)
    validate_create(req, served)
    idempotency_key = request.headers.get("idempotency-key")
    if idempotency_key is not None and not 1 <= len(idempotency_key) <= 255:
        raise ApiError(422, "Idempotency-Key must be 1–255 characters", "invalid_idempotency_key",
                       "Idempotency-Key")
    problem = callback_url_problem(runtime.settings, req.callback_url) if req.callback_url else None
    if problem:
        raise ApiError(422, f"callback_url: {problem}", "invalid_callback_url", "callback_url")
    spec = TaskSpec(
        model=req.model, prompt=req.prompt or "", resolution=req.resolution, ratio=req.effective_ratio,
        duration=req.duration, generate_audio=req.generate_audio, seed=req.seed,
        image_urls=tuple(req.image_urls), video_urls=tuple(req.video_urls), audio_urls=tuple(req.audio_urls),
        callback_url=req.callback_url,
    )
    limits: Limits = request.app.state.limits  # open tasks and credit budget (429 / 402), then submit
    task, _ = await run_in_threadpool(limits.submit, service, owner, spec, served[req.model].name,
                                      idempotency_key, request_fingerprint(body))
    response.headers["Location"] = f"/v1/tasks/{task.id}"
    return await run_in_threadpool(present_task, task, request, runtime, service)
