"""The one JSON error shape (spec §2), for every non-2xx answer."""

from __future__ import annotations

import errno
import logging
import sqlite3
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from refvid.errors import Conflict, NotFound, RefvidError, StoreUnavailable, ValidationFailed

log = logging.getLogger(__name__)

TYPES = {400: "invalid_request_error", 401: "authentication_error", 402: "insufficient_quota",
         403: "permission_error", 404: "not_found", 405: "invalid_request_error", 409: "invalid_request_error",
         413: "file_too_large_error", 415: "invalid_request_error", 422: "invalid_request_error",
         429: "rate_limit_error", 500: "server_error", 503: "service_unavailable_error",
         507: "insufficient_storage_error"}
DISK_FULL_RETRY_AFTER_S = 60
_DISK_FULL_ERRNOS = {errno.ENOSPC, errno.EDQUOT}

#: seconds a client is told to wait when the task database is unreachable (docs/operations.md)
STORE_RETRY_AFTER_S = 2


class ApiError(Exception):
    """An HTTP error with the spec's envelope."""

    def __init__(self, status: int, message: str, code: str | None = None, param: str | None = None,
                 headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.message, self.code, self.param = status, message, code, param
        self.headers = headers


def refvid_error(exc: Exception) -> tuple[int, str, str | None, str | None, dict[str, str] | None] | None:
    """One of refvid's own errors as (status, message, code, param, headers), as the FoxAPI dialect answers
    it; None for any other exception. The other dialects reshape these."""
    if isinstance(exc, ApiError):
        return exc.status, exc.message, exc.code, exc.param, exc.headers
    for kind, status in ((ValidationFailed, 422), (NotFound, 404), (Conflict, 409)):
        if isinstance(exc, kind):
            return status, exc.message, exc.code, exc.param, None
    return None


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


def error_param(error: Mapping[str, Any]) -> str | None:
    """The field a pydantic error is about, as the FoxAPI wire names it (`image_urls[2]`, `a.b`): the
    `param` a validator put in its context, else the error's location."""
    context = error.get("ctx")
    context_param = context.get("param") if isinstance(context, dict) else None  # list items: image_urls[2]
    return str(context_param) if context_param else _param(tuple(error.get("loc", ())))


def validation_error_response(errors: list[dict[str, Any]]) -> JSONResponse:
    """Pydantic errors → the first one in our envelope (400 for unparsable JSON, else 422)."""
    return error_response(*describe_validation_error(errors))


def describe_validation_error(errors: list[dict[str, Any]]) -> tuple[int, str, str | None, str | None]:
    """The first pydantic error as (status, message, code, param): the field named, the rule in words."""
    first = errors[0] if errors else {"type": "invalid", "loc": (), "msg": "invalid request"}
    kind, param = str(first.get("type")), error_param(first)
    if kind in ("json_invalid", "model_attributes_type", "dict_type") and not param:
        return 400, "request body must be a JSON object", "invalid_json", None
    if kind == "extra_forbidden":
        return 422, f"unknown field {param!r}: this API does not accept it", "unknown_parameter", param
    if kind == "missing":
        return 422, f"{param} is required", "missing_required_parameter", param
    field = (param or "request").split("[")[0].split(".")[0]
    code = kind if kind.startswith(("invalid_", "too_many_")) else f"invalid_{field}"
    message = str(first.get("msg", "invalid value"))
    if param and not message.startswith(param.split("[")[0]):
        message = f"{param}: {message}"
    return 422, message, code, param


def is_disk_full(exc: BaseException) -> bool:
    """True when `exc`, or an error it was raised from, says the disk (or quota) is full: an OSError with
    ENOSPC/EDQUOT from the blob store or a temp file, or SQLite's "database or disk is full"."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno in _DISK_FULL_ERRNOS:
            return True
        if "database or disk is full" in str(current):
            return True
        current = current.__cause__ or current.__context__
    return False


def disk_full_response() -> JSONResponse:
    """507: writes are refused until space is freed; reads keep working."""
    return error_response(507, "the server is out of storage space; try again later (reads still work)",
                          "insufficient_storage", headers={"Retry-After": str(DISK_FULL_RETRY_AFTER_S)})


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

    @app.exception_handler(StoreUnavailable)
    async def _store_down(_: Request, exc: StoreUnavailable) -> JSONResponse:
        log.warning("store unavailable: %s", exc)  # one line, no traceback: an outage, not a bug
        return error_response(503, "the task database is unreachable right now; retry shortly", exc.code,
                              headers={"Retry-After": str(STORE_RETRY_AFTER_S)})

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

    # The handlers below run inside Starlette's ExceptionMiddleware: an error they answer is not re-raised,
    # so uvicorn logs no "Exception in ASGI application" traceback for it (the catch-all `Exception` handler
    # runs in ServerErrorMiddleware, which re-raises after answering).
    @app.exception_handler(ClientDisconnect)
    async def _client_gone(request: Request, _: ClientDisconnect) -> JSONResponse:
        log.info("client disconnected before sending the whole body of %s %s", request.method, request.url.path)
        return error_response(400, "the client disconnected before the request body was complete",
                              "client_disconnected")

    @app.exception_handler(RecursionError)
    async def _too_deep(_: Request, __: RecursionError) -> JSONResponse:
        return error_response(400, "request body is nested too deeply", "invalid_json")

    async def _storage_error(_: Request, exc: Exception) -> JSONResponse:
        if is_disk_full(exc):
            log.warning("refused a write: %s", exc)
            return disk_full_response()
        raise exc  # anything else is a bug: the catch-all below logs it

    app.add_exception_handler(OSError, _storage_error)
    app.add_exception_handler(sqlite3.Error, _storage_error)  # "database or disk is full" is no OSError

    @app.exception_handler(Exception)
    async def _crash(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error")
        return error_response(500, "internal error; it has been logged", "internal_error")
