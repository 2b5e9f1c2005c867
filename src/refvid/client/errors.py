"""Exceptions raised by `refvid.Client` / `refvid.AsyncClient`.

Every error carries the wire envelope's fields (spec §2): `type`, `code`, `param` and `message`, plus the
HTTP `status_code` when there was an HTTP answer. Task outcomes observed by `wait()` are errors too:
`TaskFailedError` (type `task_error`, `code` = the task's `error.code`) and `TaskCancelledError`.

Catch `ClientError` for everything, `APIStatusError` for any non-2xx answer, or a specific subclass.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from refvid.api.schemas import TaskObject

__all__ = [
    "APIConnectionError", "APIStatusError", "AuthenticationError", "ClientError", "ConflictError",
    "FileTooLargeError", "InsufficientQuotaError", "InvalidRequestError", "NotFoundError", "RateLimitError",
    "ServerError", "ServiceUnavailableError", "TaskCancelledError", "TaskError", "TaskFailedError",
    "WaitTimeoutError", "error_from_response",
]


class ClientError(Exception):
    """Base class: `message`, `type`, `code`, `param` (any may be None except `message` and `type`)."""

    def __init__(self, message: str, *, type: str, code: str | None = None,
                 param: str | None = None):
        super().__init__(message)
        self.message = message
        self.type = type
        self.code = code
        self.param = param

    def __str__(self) -> str:
        where = f" (param: {self.param})" if self.param else ""
        return f"{self.type}/{self.code or '-'}{where}: {self.message}"


class APIConnectionError(ClientError):
    """The server could not be reached, or the connection broke before an answer."""

    def __init__(self, message: str):
        super().__init__(message, type="connection_error", code="connection_failed")


class APIStatusError(ClientError):
    """A non-2xx HTTP answer, decoded from `{"error": {message, type, code, param}}`."""

    def __init__(self, message: str, *, status_code: int, type: str,
                 code: str | None = None, param: str | None = None, retry_after: float | None = None,
                 body: Any = None):
        super().__init__(message, type=type, code=code, param=param)
        self.status_code = status_code
        self.retry_after = retry_after
        self.body = body


class InvalidRequestError(APIStatusError):
    """400 / 409 / 422 `invalid_request_error`: fix the request (see `param` and `code`)."""


class AuthenticationError(APIStatusError):
    """401: the API key is missing or unknown."""


class InsufficientQuotaError(APIStatusError):
    """402: the key's credit budget is exhausted."""


class NotFoundError(APIStatusError):
    """404: no such task or file for this key."""


class ConflictError(InvalidRequestError):
    """409: the resource's state forbids this (e.g. `task_not_cancellable`)."""


class FileTooLargeError(APIStatusError):
    """413: upload or body over the limit. Raised before a byte is sent when the client knows the limit (the
    contract's per-kind reference limits and the upload limit), with `status_code` 413 as the server would
    answer; `filename` and `limit_bytes` name the file and the limit when they are known."""

    def __init__(self, message: str, *, filename: str | None = None, limit_bytes: int | None = None,
                 **fields: Any):
        fields.setdefault("status_code", 413)
        fields.setdefault("type", "file_too_large_error")
        fields.setdefault("code", "file_too_large")
        super().__init__(message, **fields)
        self.filename = filename
        self.limit_bytes = limit_bytes


class RateLimitError(APIStatusError):
    """429: rate or concurrency limit; `retry_after` holds the server's `Retry-After` in seconds."""


class ServerError(APIStatusError):
    """5xx other than 503."""


class ServiceUnavailableError(APIStatusError):
    """503: no engine can serve the model right now."""


_BY_STATUS: dict[int, type[APIStatusError]] = {
    400: InvalidRequestError, 401: AuthenticationError, 402: InsufficientQuotaError, 404: NotFoundError,
    409: ConflictError, 413: FileTooLargeError, 422: InvalidRequestError, 429: RateLimitError,
    503: ServiceUnavailableError,
}


def _retry_after(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None  # An HTTP date: rare enough that the default backoff is used instead.


def error_from_response(status_code: int, body: Any, retry_after: str | None = None) -> APIStatusError:
    """The exception for a non-2xx answer. Tolerates bodies that are not the spec's envelope."""
    detail = body.get("error") if isinstance(body, dict) else None
    if not isinstance(detail, dict):
        detail = {"message": body if isinstance(body, str) and body else f"HTTP {status_code}"}
    cls = _BY_STATUS.get(status_code, ServerError if status_code >= 500 else APIStatusError)
    default_type = "server_error" if status_code >= 500 else "invalid_request_error"
    code, param = detail.get("code"), detail.get("param")
    return cls(str(detail.get("message") or f"HTTP {status_code}"), status_code=status_code,
               type=str(detail.get("type") or default_type), code=None if code is None else str(code),
               param=None if param is None else str(param),
               retry_after=_retry_after(retry_after), body=body)


class TaskError(ClientError):
    """A task ended without a result; `task` is its last observed state."""

    def __init__(self, message: str, task: TaskObject, *, code: str | None):
        super().__init__(message, type="task_error", code=code)
        self.task = task
        self.task_id = task.id


class TaskFailedError(TaskError):
    """The task failed; `code` is the task's `error.code` (spec §6), e.g. `reference_invalid`."""

    def __init__(self, task: TaskObject):
        error = task.error
        message = error.message if error else "the task failed"
        super().__init__(f"task {task.id} failed: {message}", task, code=error.code if error else None)


class TaskCancelledError(TaskError):
    """The task was cancelled (by this client or another)."""

    def __init__(self, task: TaskObject):
        super().__init__(f"task {task.id} was cancelled", task, code="task_cancelled")


class WaitTimeoutError(TaskError):
    """`wait(timeout=...)` ran out before the task finished; the task keeps running."""

    def __init__(self, task: TaskObject, timeout: float):
        super().__init__(f"task {task.id} still {task.status} after {timeout:g} s", task, code="wait_timeout")
        self.type = "timeout"
