"""Request dependencies: the runtime, the service, and the caller's identity."""

from __future__ import annotations

import json
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError

from refvid.api.errors import ApiError
from refvid.runtime import Runtime
from refvid.tasks.service import TaskService

ModelT = TypeVar("ModelT", bound=BaseModel)


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def get_service(request: Request) -> TaskService:
    service: TaskService = request.app.state.service
    return service


def authenticate(request: Request, runtime: Annotated[Runtime, Depends(get_runtime)]) -> str:
    """The caller's key id. Missing or unknown key → 401."""
    header = request.headers.get("authorization", "")
    scheme, _, key = header.partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise ApiError(401, "missing API key: send 'Authorization: Bearer <key>'", "missing_api_key",
                       headers={"WWW-Authenticate": "Bearer"})
    owner = runtime.owner_of(key.strip())
    if owner is None:
        raise ApiError(401, "invalid API key", "invalid_api_key", headers={"WWW-Authenticate": "Bearer"})
    request.state.owner = owner
    return owner


async def read_json_body(request: Request, max_bytes: int) -> dict[str, Any]:
    """The body as a JSON object; 400 if it is not one, 413 past `max_bytes` (counted, not trusted)."""
    content_type = request.headers.get("content-type", "application/json").lower()
    if "json" not in content_type:
        raise ApiError(400, f"Content-Type must be application/json, not {content_type!r}", "invalid_content_type")
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise ApiError(413, f"request body is larger than {max_bytes} bytes", "body_too_large")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise ApiError(413, f"request body is larger than {max_bytes} bytes", "body_too_large")
        chunks.append(chunk)
    try:
        body = json.loads(b"".join(chunks))
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, f"request body is not valid JSON: {exc}", "invalid_json") from exc
    if not isinstance(body, dict):
        raise ApiError(400, "request body must be a JSON object", "invalid_json")
    return body


def parse_body(model: type[ModelT], body: dict[str, Any]) -> ModelT:
    """Validate a JSON body against a wire model; errors take the usual 400/422 envelope."""
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        raise RequestValidationError(exc.errors()) from exc


Owner = Annotated[str, Depends(authenticate)]
RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
ServiceDep = Annotated[TaskService, Depends(get_service)]
