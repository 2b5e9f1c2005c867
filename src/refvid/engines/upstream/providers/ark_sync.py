"""`GET /v1/tasks/{id}?sync_upstream=true` for relayed tasks: ask the provider now how the upstream task
stands. The task service (refvid.tasks.service.TaskService.sync_upstream) decides what to show; this module
knows no task and no store.

It runs in the API process, on a request thread: one quick attempt (no retries), answers cached for
`CACHE_S` so clients polling every few seconds do not multiply calls to the provider, and any failure is
"cannot say" (never a 500 for the client).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from refvid.config import Settings
from refvid.engines.upstream.providers.ark_client import ArkClient

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


def left_queue(settings: Settings, upstream_id: str) -> bool | None:
    """True once the provider's task has left its queue (it can no longer be cancelled), False while it is
    queued, None when the provider cannot be asked right now. The task service decides what to show."""
    upstream = fetch_upstream(settings, upstream_id)
    if upstream is None:
        return None
    return str(upstream.get("status")) in LEFT_QUEUE
