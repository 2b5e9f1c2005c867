"""`GET /v1/tasks/{id}?sync_upstream=true` for relayed tasks: ask the provider now how the upstream task
stands, and return the task as it should be shown.

This runs in the API process, on a request thread, so it is deliberately narrow:
- it never records anything (no result, no status, no progress): the worker that holds the task's lease is
  the only writer, and writing here would race it or break monotonic progress;
- it only corrects what the provider knows first: once the upstream task has left the queue it can no
  longer be cancelled, so `can_cancel` turns false at once instead of at the worker's next poll;
- one quick attempt (no retries), answers cached for `CACHE_S` so clients polling every few seconds do not
  multiply calls to the provider; any failure leaves the task as it was (never a 500 for the client).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from refvid.config import Settings
from refvid.engines.relay_client import ArkClient
from refvid.tasks.model import Task, TaskStatus
from refvid.tasks.store import SqlStore

log = logging.getLogger(__name__)
CACHE_S = 2.0
TIMEOUT_S = 3.0
MAX_CACHED = 1024
LEFT_QUEUE = frozenset({"running", "succeeded", "failed", "expired"})

_cache: dict[str, tuple[float, dict[str, Any]]] = {}
_lock = threading.Lock()


def fetch_upstream(settings: Settings, upstream_id: str, now_s: float | None = None) -> dict[str, Any] | None:
    """The provider's task object (cached for `CACHE_S`), or None if it cannot be had right now."""
    now = now_s if now_s is not None else time.monotonic()
    with _lock:
        cached = _cache.get(upstream_id)
        if cached and now - cached[0] < CACHE_S:
            return cached[1]
    if not settings.ark_api_key:
        return None
    client = ArkClient(settings.ark_api_key, settings.ark_base_url, timeout_s=TIMEOUT_S, max_retries=0)
    try:
        upstream = client.get_task(upstream_id)
    except Exception as exc:  # a provider hiccup must not fail the client's GET
        log.info("sync_upstream: could not read upstream task %s: %s", upstream_id, exc)
        return None
    finally:
        client.close()
    with _lock:
        if len(_cache) >= MAX_CACHED:
            _cache.clear()
        _cache[upstream_id] = (now, upstream)
    return upstream


def refresh_from_upstream(settings: Settings, store: SqlStore, task: Task) -> Task:
    """The task as it should be shown after asking the provider (see the module docstring)."""
    upstream_id = task.engine_state.get("upstream_task_id")
    if task.status != TaskStatus.PROCESSING or not upstream_id:
        return task
    upstream = fetch_upstream(settings, str(upstream_id))
    if upstream is None:
        return task
    current = store.get_task(task.id) or task  # the worker may have moved on while we asked
    if current.status != TaskStatus.PROCESSING or current.engine_state.get("upstream_task_id") != upstream_id:
        return current
    if str(upstream.get("status")) in LEFT_QUEUE and current.cancellable:
        return current.with_(cancellable=False)
    return current
