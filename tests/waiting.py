"""Polling for a condition in tests (no fixed sleeps, no timing thresholds: only a generous deadline)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


def wait_until(check: Callable[[], Any], timeout_s: float = 30, what: str = "condition",
               interval_s: float = 0.05) -> Any:
    """Call `check` until it returns something truthy; return that. AssertionError after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(interval_s)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
