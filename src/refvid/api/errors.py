"""The one JSON error shape (spec §2), for every non-2xx answer."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from refvid.errors import Conflict, NotFound, RefvidError, ValidationFailed

log = logging.getLogger(__name__)

TYPES = {400: "invalid_request_error", 401: "authentication_error", 402: "insufficient_quota",
         403: "permission_error", 404: "not_found", 405: "invalid_request_error", 409: "invalid_request_error",
         413: "file_too_large_error", 415: "invalid_request_error", 422: "invalid_request_error",
         429: "rate_limit_error", 500: "server_error", 503: "service_unavailable_error"}


class ApiError(Exception):
    """An HTTP error with the spec's envelope."""

    def __init__(self, status: int, message: str, code: str | None = None, param: str | None = None,
                 headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.message, self.code, self.param = status, message, code, param
        self.headers = headers


def documented_errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` entries: these statuses answer with the error envelope."""
    from refvid.api.schemas import ErrorResponse

    return {status: {"model": ErrorResponse} for status in statuses}


def error_response(status: int, message: str, code: str | None = None, param: str | None = None,
                   headers: dict[str, str] | None = None) -> JSONResponse:
    body = {"error": {"message": message, "type": TYPES.get(status, "invalid_request_error"), "code": code,
                      "param": param}}
    return JSONResponse(body, status_code=status, headers=headers)


def _param(loc: tuple[Any, ...]) -> str | None:
    parts = [p for p in loc if p not in ("body", "query", "path", "header")]
    if not parts:
        return None
    text = str(parts[0])
    for part in parts[1:]:
        text += f"[{part}]" if isinstance(part, int) else f".{part}"
    return text


def validation_error_response(errors: list[dict[str, Any]]) -> JSONResponse:
    """Pydantic errors → the first one in our envelope (400 for unparsable JSON, else 422)."""
    first = errors[0] if errors else {"type": "invalid", "loc": (), "msg": "invalid request"}
    kind, param = str(first.get("type")), _param(tuple(first.get("loc", ())))
    context = first.get("ctx")
    context_param = context.get("param") if isinstance(context, dict) else None  # list items: image_urls[2]
    if context_param:
        param = str(context_param)
    if kind in ("json_invalid", "model_attributes_type", "dict_type") and not param:
        return error_response(400, "request body must be a JSON object", "invalid_json")
    if kind == "extra_forbidden":
        return error_response(422, f"unknown field {param!r}: this API does not accept it", "unknown_parameter",
                              param)
    if kind == "missing":
        return error_response(422, f"{param} is required", "missing_required_parameter", param)
    field = (param or "request").split("[")[0].split(".")[0]
    code = kind if kind.startswith(("invalid_", "too_many_")) else f"invalid_{field}"
    message = str(first.get("msg", "invalid value"))
    if param and not message.startswith(param.split("[")[0]):
        message = f"{param}: {message}"
    return error_response(422, message, code, param)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.message, exc.code, exc.param, exc.headers)

    @app.exception_handler(ValidationFailed)
    async def _invalid(_: Request, exc: ValidationFailed) -> JSONResponse:
        return error_response(422, exc.message, exc.code, exc.param)

    @app.exception_handler(NotFound)
    async def _not_found(_: Request, exc: NotFound) -> JSONResponse:
        return error_response(404, exc.message, exc.code, exc.param)

    @app.exception_handler(Conflict)
    async def _conflict(_: Request, exc: Conflict) -> JSONResponse:
        return error_response(409, exc.message, exc.code, exc.param)

    @app.exception_handler(RefvidError)
    async def _other(_: Request, exc: RefvidError) -> JSONResponse:
        log.error("unmapped domain error: %s", exc)
        return error_response(500, exc.message, exc.code)

    @app.exception_handler(RequestValidationError)
    async def _request_validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        return validation_error_response(list(exc.errors()))

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code)
        return error_response(exc.status_code, str(exc.detail), code, headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _crash(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error")
        return error_response(500, "internal error; it has been logged", "internal_error")
