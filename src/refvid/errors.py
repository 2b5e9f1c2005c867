"""Domain errors. They carry a machine code and a human message, never an HTTP status.

The API layer maps them to the wire envelope (api/errors.py); the worker maps them to task failures.
"""

from __future__ import annotations


class RefvidError(Exception):
    """Base class for refvid's own errors."""

    code = "server_error"

    def __init__(self, message: str | None = None, *, code: str | None = None, param: str | None = None):
        self.message = message or (self.__doc__ or self.code).strip()
        if code is not None:
            self.code = code
        self.param = param
        super().__init__(self.message)


class ValidationFailed(RefvidError):
    """The request is invalid."""

    code = "invalid_request"


class NotFound(RefvidError):
    """The resource does not exist."""

    code = "not_found"


class Conflict(RefvidError):
    """The resource is in a state that does not allow this operation."""

    code = "conflict"


class TaskFailure(RefvidError):
    """A task could not be completed; `code` is one of the spec §6 task failure codes."""

    code = "generation_failed"


class ReferenceFailure(TaskFailure):
    """A reference could not be used (fetching, format, size or content)."""

    code = "reference_invalid"


class Cancelled(RefvidError):
    """The task was cancelled while it ran."""

    code = "cancelled"


class LeaseLost(RefvidError):
    """This worker no longer holds the task's lease (another worker or the reaper took it)."""

    code = "lease_lost"


class StoreUnavailable(RefvidError):
    """The task database cannot be reached right now (stopped, restarting, network down, no free connection).
    Transient by nature: the API answers 503 with `Retry-After`, workers retry the write (worker/lease.py)."""

    code = "store_unavailable"


class Deferred(RefvidError):
    """The task cannot start here now (every upstream able to take it is busy or down): it goes back to the
    queue without counting an attempt, and a worker claims it again once a slot frees."""

    code = "deferred"
