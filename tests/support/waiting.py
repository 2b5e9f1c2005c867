"""Polling for a condition or a task status in tests (no fixed sleeps, no timing thresholds: only a generous
deadline)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import httpx


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


async def wait_for(api: httpx.AsyncClient, task_id: str, statuses: set[str], timeout_s: float = 120,
                   headers: dict[str, str] | None = None) -> dict[str, Any]:
    """Poll GET /v1/tasks/{id} until the task reaches one of `statuses`; its progress must never go back."""
    deadline = time.monotonic() + timeout_s
    seen: list[int] = []
    while time.monotonic() < deadline:
        task: dict[str, Any] = (await api.get(f"/v1/tasks/{task_id}", params={"sync_upstream": "true"},
                                              headers=headers)).json()
        seen.append(task["progress"])
        if task["status"] in statuses:
            assert seen == sorted(seen), f"progress went backwards: {seen}"
            return task
        await asyncio.sleep(0.1)
    raise AssertionError(f"task {task_id} did not reach {statuses}: {task}")
