"""OpenAI-shaped errors: `{"error": {"message", "type", "param", "code"}}` with the statuses OpenAI's API
answered (400 for every bad parameter, where refvid's FoxAPI dialect says 422).

The routes share refvid's services, which raise refvid's errors (`ApiError`, `ValidationFailed`, `NotFound`,
`Conflict`, FastAPI's request validation); `OpenAIRoute` translates them on the way out and names the field as
this dialect calls it (`seconds`, not `duration`). Anything else (the store unreachable, a full disk, a
client gone) goes on to the app's handlers, whose envelope has the same four keys.
"""

from __future__ import annotations

from fastapi import Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.routing import Match
from starlette.types import Scope

from refvid.api.errors import describe_validation_error, refvid_error
from refvid.api.routing import DialectRoute

# OpenAI's `type` for each status it answers; a bad request of any kind is an `invalid_request_error`.
TYPES = {401: "invalid_request_error", 402: "insufficient_quota", 404: "invalid_request_error",
         429: "rate_limit_error", 500: "server_error", 503: "server_error"}
FOXAPI_ROUTE = "/v1/videos/generations"  # FoxAPI's create: never this dialect's, whatever the method


class OpenAIError(Exception):
    """An error answered in this dialect's shape."""

    def __init__(self, status: int, message: str, code: str | None = None, param: str | None = None,
                 headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.message, self.code, self.param, self.headers = status, message, code, param, headers


def invalid(param: str, message: str, code: str | None = None) -> OpenAIError:
    """400 invalid_request_error naming `param`; the code defaults to `invalid_<param>`."""
    return OpenAIError(400, message, code or f"invalid_{param.split('[')[0]}", param)


def not_found(video_id: str) -> OpenAIError:
    return OpenAIError(404, f"No video found with id {video_id!r}.", "video_not_found", "video_id")


def openai_response(error: OpenAIError) -> JSONResponse:
    body = {"error": {"message": error.message, "type": TYPES.get(error.status, "invalid_request_error"),
                      "param": error.param, "code": error.code}}
    return JSONResponse(body, status_code=error.status, headers=error.headers)


def from_refvid(status: int, message: str, code: str | None, param: str | None,
                headers: dict[str, str] | None = None) -> OpenAIError:
    """refvid's error → this dialect's: 422 becomes 400, the rest keep their status."""
    return OpenAIError(400 if status == 422 else status, message, code, param, headers)


def translate(exc: Exception) -> OpenAIError | None:
    """An error raised while serving a route of this dialect, as it answers it; None for the app's handlers."""
    if isinstance(exc, OpenAIError):
        return exc
    if isinstance(exc, RequestValidationError):
        return from_refvid(*describe_validation_error(list(exc.errors())))
    known = refvid_error(exc)
    return from_refvid(*known) if known is not None else None


class OpenAIRoute(DialectRoute):
    """A route of `/v1/videos` whose errors leave in this dialect's shape. It never matches FoxAPI's
    `/v1/videos/generations` (whose GET would otherwise look like a video id here), so that path answers
    exactly as before: its POST creates, any other method is the app's 405."""

    @staticmethod
    def answer_error(exc: Exception) -> Response | None:
        error = translate(exc)
        return openai_response(error) if error is not None else None

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope.get("path") == FOXAPI_ROUTE:
            return Match.NONE, {}
        return super().matches(scope)
