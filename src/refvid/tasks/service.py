"""Use cases of the task API: submit, get, list, cancel, delete, and estimated time."""

from __future__ import annotations

import hashlib
import json
import math
import statistics
import time
from dataclasses import dataclass, field
from typing import Any

from refvid.config import Settings
from refvid.errors import Conflict, NotFound, ValidationFailed
from refvid.storage.base import BlobStore
from refvid.tasks.model import Task, TaskSpec, TaskStatus, new_task_id
from refvid.tasks.store import SqlStore
from refvid.worker.wakeup import Waker

# Seconds of work per second of output before any history exists (then history replaces it).
DEFAULT_SPEED = {"compositor": 1.0, "diffusion": 30.0, "relay": 12.0}
CREDITS_PER_S = {"480p": 1, "720p": 2, "1080p": 4}
ESTIMATE_CACHE_S = 5.0


def request_fingerprint(body: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def credits_for(spec: TaskSpec) -> int:
    seconds = spec.duration if spec.duration > 0 else 15  # -1 reserves the maximum, settled on completion
    return seconds * CREDITS_PER_S.get(spec.resolution, 2)


@dataclass
class TaskService:
    settings: Settings
    store: SqlStore
    blobs: BlobStore
    waker: Waker
    _speed_cache: dict[tuple[str, str], tuple[float, float]] = field(default_factory=dict)

    def submit(self, owner: str, spec: TaskSpec, engine: str, idempotency_key: str | None = None,
               fingerprint: str | None = None) -> tuple[Task, bool]:
        """Create a pending task (or return the one this idempotency key already made) and wake workers."""
        task = Task(id=new_task_id(), owner=owner, spec=spec, engine=engine, idempotency_key=idempotency_key,
                    request_hash=fingerprint, credits=credits_for(spec))
        stored, created = self.store.insert_task(task)
        if not created and stored.request_hash != fingerprint:
            raise Conflict("this Idempotency-Key was already used with a different request body",
                           code="idempotency_key_reused")
        if created:
            self.waker.notify()
        return stored, created

    def get(self, owner: str, task_id: str) -> Task:
        task = self.store.get_task(task_id)
        if task is None or task.owner != owner:
            raise NotFound(f"task {task_id} not found", code="task_not_found")
        return task

    def list(self, owner: str, status: str | None, model: str | None, limit: int,
             after: str | None) -> tuple[list[Task], bool]:
        cursor = None
        if after:
            try:
                cursor = self.get(owner, after)
            except NotFound as exc:
                raise ValidationFailed(f"after: no task {after!r} to continue from (use a last_id you received)",
                                       code="invalid_after", param="after") from exc
        return self.store.list_tasks(owner, status, model, limit, cursor)

    def cancel(self, owner: str, task_id: str) -> Task:
        task = self.get(owner, task_id)
        if task.status == TaskStatus.PROCESSING and task.cancel_requested:
            return task  # already on its way out; cancelling twice is not an error
        if task.status == TaskStatus.PROCESSING and not task.cancellable:
            raise Conflict(f"task {task_id} can no longer be cancelled (the provider is already generating it)",
                           code="task_not_cancellable")
        cancelled = self.store.request_cancel(task_id)
        self.waker.notify()  # the running worker notices at once
        return cancelled

    def delete(self, owner: str, task_id: str) -> Task:
        self.get(owner, task_id)
        task = self.store.delete_task(task_id)
        self.blobs.delete_prefix(f"results/{task_id}/")
        return task

    def estimated_time(self, task: Task) -> int:
        """Seconds to completion: recent speed of this engine at this size × output length, plus the
        queue ahead shared among the live workers."""
        if task.status.is_terminal():
            return 0
        seconds = task.spec.duration if task.spec.duration > 0 else 5
        one_task = self._speed(task.engine, task.spec.resolution) * seconds + 1.0
        if task.status == TaskStatus.PROCESSING:
            return max(1, math.ceil(one_task * (1 - task.progress / 100)))
        ahead = self.store.pending_ahead(task)
        workers = max(1, self.store.live_workers(task.engine, within_s=30.0))
        return max(1, math.ceil(one_task * (1 + ahead / workers)))

    def _speed(self, engine: str, resolution: str) -> float:
        key = (engine, resolution)
        cached = self._speed_cache.get(key)
        now = time.monotonic()
        if cached and now - cached[1] < ESTIMATE_CACHE_S:
            return cached[0]
        history = self.store.recent_speeds(engine, resolution)
        speed = statistics.median(history) if history else DEFAULT_SPEED.get(engine, 5.0)
        self._speed_cache[key] = (speed, now)
        return speed

    def sync_upstream(self, task: Task) -> Task:
        """Refresh a relayed task from its provider; local engines have nothing upstream."""
        if task.engine != "relay" or task.status.is_terminal():
            return task
        try:
            from refvid.engines.relay_sync import (  # type: ignore[import-not-found,unused-ignore]
                refresh_from_upstream,
            )
        except ImportError:
            return task
        refreshed: Task = refresh_from_upstream(self.settings, self.store, task)
        return refreshed
