"""Use cases of the task API: submit, get, list, cancel, delete, and estimated time."""

from __future__ import annotations

import bisect
import hashlib
import json
import math
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from refvid.config import Settings
from refvid.contract import MAX_DURATION_S
from refvid.errors import Conflict, NotFound, ValidationFailed
from refvid.storage.base import BlobStore
from refvid.tasks.model import Task, TaskSpec, TaskStatus, new_task_id
from refvid.tasks.store import SqlStore
from refvid.tasks.store.ledger import credits_for_seconds
from refvid.tasks.wakeup import Waker

# Seconds of work per second of output before any history exists (then history replaces it).
DEFAULT_SPEED = {"compositor": 1.0, "diffusion": 30.0, "relay": 12.0, "upstream": 12.0}
ESTIMATE_CACHE_S = 5.0
T = TypeVar("T")
WORKERS_CACHE_S = 1.0  # live workers and the pending queue, as estimates read them

# Asks a provider about a relayed task: upstream task id → True once the provider's task has left its queue
# (it can no longer be cancelled), False while queued, None when the provider cannot be asked right now.
UpstreamProbe = Callable[[str], bool | None]


def request_fingerprint(body: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def credits_for(spec: TaskSpec, reserve_s: int | None = None) -> int:
    """Credits reserved at submit for `reserve_s` seconds of output (`ModelOffer.reserved_seconds`), else for
    the duration asked, and for `duration: -1` the longest output (15 s). The completion settles the
    reservation to the real length (`ledger.settle_credits`), so a finished task's `credits_reserved` is what
    it cost."""
    seconds = reserve_s if reserve_s is not None else spec.duration if spec.duration > 0 else MAX_DURATION_S
    return credits_for_seconds(seconds, spec.resolution)


@dataclass
class TaskService:
    settings: Settings
    store: SqlStore
    blobs: BlobStore
    waker: Waker
    upstream: UpstreamProbe | None = None
    _readings: dict[tuple[str, ...], tuple[Any, float]] = field(default_factory=dict)  # see _recent

    def submit(self, owner: str, spec: TaskSpec, engine: str, idempotency_key: str | None = None,
               fingerprint: str | None = None, reserve_s: int | None = None) -> tuple[Task, bool]:
        """Create a pending task (or return the one this idempotency key already made) and wake workers."""
        task = Task(id=new_task_id(), owner=owner, spec=spec, engine=engine, idempotency_key=idempotency_key,
                    request_hash=fingerprint, credits=credits_for(spec, reserve_s))
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
        ahead = bisect.bisect_left(self._pending_queue(task.engine), task.created_at)
        return max(1, math.ceil(one_task * (1 + ahead / self._live_workers(task.engine))))

    def _pending_queue(self, engine: str) -> Sequence[float]:
        """The creation times of `engine`'s pending tasks, read at most once a second: every poll of a
        pending task needs its place in the queue, and counting the queue per poll grew with the queue."""
        return self._recent(("queue", engine), WORKERS_CACHE_S, lambda: self.store.pending_created_at(engine))

    def _live_workers(self, engine: str) -> int:
        """Live workers of `engine`, read at most once a second: the count changes on a heartbeat's scale,
        while every poll of a pending task asks for it."""
        return self._recent(("workers", engine), WORKERS_CACHE_S,
                            lambda: max(1, self.store.live_workers(engine, within_s=30.0)))

    def _speed(self, engine: str, resolution: str) -> float:
        def read() -> float:
            history = self.store.recent_speeds(engine, resolution)
            return statistics.median(history) if history else DEFAULT_SPEED.get(engine, 5.0)

        return self._recent(("speed", engine, resolution), ESTIMATE_CACHE_S, read)

    def _recent(self, key: tuple[str, ...], max_age_s: float, read: Callable[[], T]) -> T:
        """`read()`, reused for `max_age_s` under `key`: the store is asked once per interval, not per poll."""
        cached = self._readings.get(key)
        now = time.monotonic()
        if cached and now - cached[1] < max_age_s:
            value: T = cached[0]
            return value
        value = read()
        self._readings[key] = (value, now)
        return value

    def may_sync_upstream(self, task: Task) -> bool:
        """Whether `sync_upstream` could change how `task` is shown (a relayed task still processing)."""
        return (self.upstream is not None and task.status == TaskStatus.PROCESSING
                and bool(task.engine_state.get("upstream_task_id")))

    def sync_upstream(self, task: Task) -> Task:
        """The task as it should be shown after asking its provider (`?sync_upstream=true`).

        Deliberately narrow, because it runs on the client's GET: it records nothing (the worker holding the
        lease is the only writer; writing here would race it or break monotonic progress), and it corrects
        only what the provider knows first: once the upstream task has left the queue it can no longer be
        cancelled, so `can_cancel` turns false at once instead of at the worker's next poll. A provider that
        cannot be asked leaves the task as it was (never a 500)."""
        upstream_id = task.engine_state.get("upstream_task_id")
        if self.upstream is None or not self.may_sync_upstream(task):
            return task
        left_queue = self.upstream(str(upstream_id))
        if left_queue is None:
            return task
        current = self.store.get_task(task.id) or task  # the worker may have moved on while we asked
        if current.status != TaskStatus.PROCESSING or current.engine_state.get("upstream_task_id") != upstream_id:
            return current
        if left_queue and current.cancellable:
            return current.with_(cancellable=False)
        return current
