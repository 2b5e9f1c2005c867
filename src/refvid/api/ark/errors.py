"""Ark-shaped errors: `{"error": {"code", "message", "param", "type"}}` with the HTTP statuses Ark answers.

Ark clients (the official SDKs among them) switch on Ark's codes and statuses — `InvalidParameter` /
`MissingParameter` with 400, `AuthenticationError` with 401, `ResourceNotFound` and
`InvalidEndpointOrModel.NotFound` with 404 — not on refvid's own. The Ark routes share refvid's services,
which raise refvid's errors (`ApiError`, `ValidationFailed`, `NotFound`, `Conflict`, FastAPI's request
validation); `ArkRoute` translates every one of them on the way out, so the dialect answers in Ark's shape
without a second set of app-wide exception handlers.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from refvid.api.errors import refvid_error
from refvid.api.routing import DialectRoute
from refvid.errors import RefvidError

log = logging.getLogger(__name__)

# Ark's `type` for each HTTP status it answers.
TYPES = {400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound", 405: "MethodNotAllowed",
         413: "BadRequest", 429: "TooManyRequests", 500: "InternalServerError", 503: "ServiceUnavailable"}
# refvid's HTTP status → (Ark's status, Ark's code) where the codes of the two wires differ by status alone.
_BY_STATUS: dict[int, tuple[int, str]] = {
    400: (400, "InvalidParameter"), 401: (401, "AuthenticationError"), 402: (403, "AccountOverdueError"),
    403: (403, "AccessDenied"), 404: (404, "ResourceNotFound"), 405: (405, "MethodNotAllowed"),
    409: (400, "InvalidParameter"), 413: (413, "InvalidParameter"), 422: (400, "InvalidParameter"),
    429: (429, "RateLimitExceeded"), 503: (503, "ServerOverloaded"),
}
# refvid's error code → Ark's, where one status carries several of Ark's codes.
_BY_CODE: dict[str, tuple[int, str]] = {
    "invalid_model": (404, "InvalidEndpointOrModel.NotFound"),
    "too_many_open_tasks": (429, "QuotaExceeded"),
    "missing_required_parameter": (400, "MissingParameter"),
    "missing_visual_reference": (400, "MissingParameter"),
    "task_type_constraint": (400, "InvalidParameter.TaskTypeConstraint"),  # Ark's code for these rules
}


class ArkError(Exception):
    """An error answered in Ark's shape: HTTP `status`, Ark's `code`, a sentence, and the parameter."""

    def __init__(self, status: int, code: str, message: str, param: str | None = None,
                 headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.param, self.headers = status, code, message, param, headers


def invalid(param: str, why: str) -> ArkError:
    """400 InvalidParameter, worded as Ark words it."""
    return ArkError(400, "InvalidParameter", f"The parameter `{param}` specified in the request is not valid: "
                                             f"{why}", param)


def missing(param: str, why: str = "") -> ArkError:
    """400 MissingParameter, worded as Ark words it."""
    return ArkError(400, "MissingParameter", f"The request failed because it is missing `{param}`"
                                             + (f": {why}" if why else "."), param)


def not_found(task_id: str) -> ArkError:
    return ArkError(404, "ResourceNotFound", f"The specified task {task_id} is not found.")


def ark_response(error: ArkError) -> JSONResponse:
    body = {"error": {"code": error.code, "message": error.message, "param": error.param or "",
                      "type": TYPES.get(error.status, "BadRequest")}}
    return JSONResponse(body, status_code=error.status, headers=error.headers)


def from_refvid(status: int, code: str | None, message: str, param: str | None,
                headers: dict[str, str] | None = None) -> ArkError:
    """refvid's (status, code) → Ark's; the message and parameter stay as refvid worded them."""
    ark_status, ark_code = _BY_CODE.get(code or "") or _BY_STATUS.get(status, (status, "InternalServiceError"))
    if ark_code in ("InvalidParameter", "MissingParameter") and param:
        message = f"The parameter `{param}` specified in the request is not valid: {message}"
    return ArkError(ark_status, ark_code, message, param, headers)


def translate(exc: Exception) -> ArkError:
    """Any error raised while serving an Ark route, as Ark would answer it."""
    if isinstance(exc, ArkError):
        return exc
    if isinstance(exc, RequestValidationError):
        return _request_validation(list(exc.errors()))
    known = refvid_error(exc)
    if known is not None:
        status, message, code, param, headers = known
        return from_refvid(status, code, message, param, headers)
    if isinstance(exc, RefvidError):
        log.error("unmapped domain error on an Ark route: %s", exc)
    else:
        log.exception("unhandled error on an Ark route")
    return ArkError(500, "InternalServiceError", "The service encountered an unexpected internal error; it has "
                                                 "been logged.")


def param_of(loc: tuple[Any, ...]) -> str:
    """A pydantic location as Ark names parameters: `content[1].image_url.url`, `filter.status`."""
    text = ""
    for part in loc:
        if part in ("body", "query", "path", "header"):
            continue
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "request"


def _request_validation(errors: list[dict[str, Any]]) -> ArkError:
    first = errors[0] if errors else {"loc": (), "msg": "invalid request", "type": "invalid"}
    param = param_of(tuple(first.get("loc", ())))
    if first.get("type") == "missing":
        return missing(param)
    return invalid(param, str(first.get("msg", "invalid value")))


class ArkRoute(DialectRoute):
    """An APIRoute whose errors — its own, its dependencies' (authentication, rate limits) and FastAPI's
    parameter validation — are answered in Ark's shape, never refvid's."""

    @staticmethod
    def answer_error(exc: Exception) -> Response:
        return ark_response(translate(exc))
