"""How an engine that waits on a remote job stops: a sleep that notices a stop within `CANCEL_POLL_S`, and why
it must stop (a client's cancel undoes the remote job; a shutdown leaves it for the next attempt to resume).
Shared by the relay and the upstream engine."""

from __future__ import annotations

import time
from collections.abc import Callable

from refvid.engines.base import EngineContext
from refvid.errors import Cancelled

CANCEL_POLL_S = 0.1


def stop_reason(ctx: EngineContext) -> str | None:
    """"cancel" or "shutdown" (`ctx.stop_reason`, optional in the protocol: without it, a stop is a cancel)."""
    reason = getattr(ctx, "stop_reason", None)
    return reason() if callable(reason) else "cancel"


def cancellable_sleep(ctx: EngineContext) -> Callable[[float], None]:
    """A sleep that raises `Cancelled` within `CANCEL_POLL_S` of a stop."""

    def sleep(seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while True:
            if ctx.cancelled():
                raise Cancelled()
            left = deadline - time.monotonic()
            if left <= 0:
                return
            time.sleep(min(CANCEL_POLL_S, left))

    return sleep
