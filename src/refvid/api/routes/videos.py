"""POST /v1/videos/generations."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from refvid.api.body import parse_body, read_json_body
from refvid.api.body_strings import body_fingerprint
from refvid.api.deps import caller_of, json_response
from refvid.api.drafts import final_request, keep_references, load_draft
from refvid.api.errors import ApiError, documented_errors
from refvid.api.inline_media import DATA_URL_KEYS, store_inline_media
from refvid.api.limits import Limits
from refvid.api.present import base_url, present_task_at
from refvid.api.routing import LeanRoute
from refvid.api.schemas import CreateVideoRequest, TaskObject
from refvid.api.store_calls import present_fresh
from refvid.api.validation import build_task_spec, validate_create
from refvid.contract import ModelOffer
from refvid.net.guard import destination_problem

router = APIRouter(route_class=LeanRoute, responses=documented_errors(429))  # 429: rate limits
ERRORS = documented_errors(400, 401, 402, 409, 413, 422, 429, 503)


@router.post(
    "/v1/videos/generations", response_model=TaskObject, response_model_exclude_none=True, responses=ERRORS,
    summary="Create a reference-, image- or text-to-video task",
    openapi_extra={"requestBody": {"required": True, "content": {"application/json": {
        "schema": {"$ref": "#/components/schemas/CreateVideoRequest"}}}}},
)
async def create_video(request: Request) -> Response:
    caller = caller_of(request)  # not a dependency: a create's only parameter is its body (api/deps.py)
    owner, runtime, service = caller.owner, caller.runtime, caller.service
    body = await read_json_body(request, runtime.settings.max_body_bytes, DATA_URL_KEYS)
    req = parse_body(CreateVideoRequest, body)
    served: dict[str, ModelOffer] = request.app.state.models  # from the composition root (no engine imports)
    if req.draft_task_id is not None:  # a final: its draft's request at its own resolution (api/drafts.py)
        req = final_request(req, await load_draft(service, owner, req.draft_task_id), served)
    offer = validate_create(req, served)
    idempotency_key = request.headers.get("idempotency-key")
    if idempotency_key is not None and not 1 <= len(idempotency_key) <= 255:
        raise ApiError(422, "Idempotency-Key must be 1–255 characters", "invalid_idempotency_key",
                       "Idempotency-Key")
    problem = destination_problem(runtime.settings, req.callback_url) if req.callback_url else None
    if problem:
        raise ApiError(422, f"callback_url: {problem}", "invalid_callback_url", "callback_url")
    spec = build_task_spec(req)
    spec = await store_inline_media(spec, owner, runtime, request)  # data: URLs: size-checked, stored once
    await keep_references(request, owner, spec, runtime.settings.upload_ttl_s)
    limits: Limits = request.app.state.limits  # open tasks and credit budget (429 / 402), then submit
    reserve_s = offer.reserved_seconds(spec.duration, spec.has_timed_references)
    base, fingerprint = base_url(request, runtime), await body_fingerprint(body)

    task, _ = await limits.submit(service, owner, spec, offer.engine, idempotency_key, fingerprint, reserve_s)
    created = await present_fresh(service, task, lambda t: present_task_at(t, base, runtime, service))
    return json_response(created, exclude_none=True, headers={"Location": f"/v1/tasks/{created.id}"})
