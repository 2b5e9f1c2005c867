"""Use cases of the task API: submit, get, list, cancel, delete, and estimated time."""

from __future__ import annotations

import asyncio
import bisect
import hashlib
import json
import math
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from refvid import catalog
from refvid.config import Settings
from refvid.contract import MAX_DURATION_S
from refvid.errors import Conflict, NotFound, ValidationFailed
from refvid.storage.base import BlobStore
from refvid.tasks.model import Task, TaskSpec, TaskStatus, new_task_id
from refvid.tasks.store import SqlStore
from refvid.tasks.store.ledger import credits_for_seconds
from refvid.tasks.store.ops import AsyncRunner, Op, Steps, writing
from refvid.tasks.store.tasks import (
    delete_task,
    get_task,
    insert_task_steps,
    list_tasks,
    pending_created_at,
    recent_speeds,
    request_cancel,
)
from refvid.tasks.store.usage import release_idempotency_key_steps
from refvid.tasks.store.workers import live_workers
from refvid.tasks.task_reads import TaskReads
from refvid.tasks.wakeup import Waker

# Seconds of work per second of output before any history exists (then history replaces it).
DEFAULT_SPEED = {"compositor": 1.0, "diffusion": 30.0, "relay": 12.0, "upstream": 12.0}
ESTIMATE_CACHE_S = 5.0
T = TypeVar("T")
WORKERS_CACHE_S = 1.0  # live workers and the pending queue, as estimates read them
LIVE_WORKER_S = 30.0  # a worker seen within this long counts as live

# Asks a provider about a relayed task: upstream task id → True once the provider's task has left its queue
# (it can no longer be cancelled), False while queued, None when the provider cannot be asked right now.
UpstreamProbe = Callable[[str], bool | None]


def canonical_body(body: Any) -> str:
    """The JSON text a request body is fingerprinted as: the same whatever its spacing or key order."""
    return json.dumps(body, sort_keys=True, separators=(",", ":"))


def request_fingerprint(body: dict[str, Any]) -> str:
    return hashlib.sha256(canonical_body(body).encode()).hexdigest()


def credits_for(spec: TaskSpec, reserve_s: int | None = None) -> int:
    """Credits reserved at submit for `reserve_s` seconds of output (`ModelOffer.reserved_seconds`), else for
    the duration asked, and for `duration: -1` the model's longest output (its catalog entry's: 15 s on the
    2.0 line, 30 s on 2.5). The completion settles the reservation to the real length
    (`ledger.settle_credits`), so a finished task's `credits_reserved` is what it cost."""
    entry = catalog.active().get(spec.model)
    longest_s = entry.max_duration if entry else MAX_DURATION_S
    seconds = reserve_s if reserve_s is not None else spec.duration if spec.duration > 0 else longest_s
    return credits_for_seconds(seconds, spec.resolution)


Admission = Callable[[], Steps[None]]
"""Checks run inside a create's write transaction before its insert (`api/limits.py`); they raise to refuse."""
Reading = tuple[tuple[str, ...], float, Op[Any]]
"""(cache key, seconds a value is reused, the operation that reads it)"""
Readings = list[Reading]


@dataclass
class TaskService:
    """The use cases run their store operations on `runner` (the API's event loop); `estimated_time` and
    `sync_upstream` also serve threads (webhook rendering) and read on the calling thread."""

    settings: Settings
    store: SqlStore
    blobs: BlobStore
    waker: Waker
    upstream: UpstreamProbe | None = None
    runner: AsyncRunner | None = None
    _readings: dict[tuple[str, ...], tuple[Any, float]] = field(default_factory=dict)  # see _recent
    _refreshing: dict[tuple[str, ...], asyncio.Future[None]] = field(default_factory=dict)
    _loop: asyncio.AbstractEventLoop | None = None
    _reading_sets: dict[tuple[str, str, bool], Readings] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._task_reads = TaskReads(self._run)  # the polls of one loop turn share one read

    async def _run(self, op: Op[T]) -> T:
        if self.runner is None:
            raise RuntimeError("this TaskService was built without an async runner (the API's)")
        return await self.runner.run(op)

    async def _run_and_wake(self, op: Op[T]) -> T:
        """A write that changes the queue, then wake the workers: through the database in the same transaction
        where it can (PostgreSQL NOTIFY), else by the waker once it committed."""
        result = await self._run(op.notifying())
        if self.store.notify_sql is None:
            self.waker.notify()
        return result

    async def submit(self, owner: str, spec: TaskSpec, engine: str, idempotency_key: str | None = None,
                     fingerprint: str | None = None, reserve_s: int | None = None,
                     admit: Admission | None = None) -> tuple[Task, bool]:
        """Create a pending task (or return the one this idempotency key already made) and wake workers. An
        Idempotency-Key older than `idempotency_ttl_s` is released first, so the same key makes a new task after
        the window; `admit` runs next, in the same transaction."""
        task = Task(id=new_task_id(), owner=owner, spec=spec, engine=engine, idempotency_key=idempotency_key,
                    request_hash=fingerprint, credits=credits_for(spec, reserve_s))
        expired_before = time.time() - self.settings.idempotency_ttl_s
        op = writing(_submit_steps)(task, expired_before, admit)
        stored, created = await self._run_and_wake(op)
        if not created and stored.request_hash != fingerprint:
            raise Conflict("this Idempotency-Key was already used with a different request body",
                           code="idempotency_key_reused")
        return stored, created

    async def get(self, owner: str, task_id: str) -> Task:
        if self.store.answers_locally:  # read on the loop at once (SQLite): nothing to share, no turn to wait
            return _owned(await self._run(get_task(task_id)), owner, task_id)
        return _owned(await self._task_reads.get(task_id), owner, task_id)

    async def list(self, owner: str, status: str | None, model: str | None, limit: int,
                   after: str | None, oldest_first: bool = False) -> tuple[list[Task], bool]:
        cursor = None
        if after:
            try:
                cursor = await self.get(owner, after)
            except NotFound as exc:
                raise ValidationFailed(f"after: no task {after!r} to continue from (use a last_id you received)",
                                       code="invalid_after", param="after") from exc
        return await self._run(list_tasks(owner, status, model, limit, cursor, oldest_first))

    async def cancel(self, owner: str, task_id: str) -> Task:
        task = await self.get(owner, task_id)
        if task.status == TaskStatus.PROCESSING and task.cancel_requested:
            return task  # already on its way out; cancelling twice is not an error
        if task.status == TaskStatus.PROCESSING and not task.cancellable:
            raise Conflict(f"task {task_id} can no longer be cancelled (the provider is already generating it)",
                           code="task_not_cancellable")
        return await self._run_and_wake(request_cancel(task_id))  # the running worker notices at once

    async def delete(self, owner: str, task_id: str) -> Task:
        await self.get(owner, task_id)
        task = await self._run(delete_task(task_id))
        await asyncio.to_thread(self.blobs.delete_prefix, f"results/{task_id}/")  # files: disk or network
        return task

    # -- estimates ----------------------------------------------------------------------------------
    def estimated_time(self, task: Task) -> int:
        """Seconds to completion: recent speed of this engine at this size × output length, plus the
        queue ahead shared among the live workers. Its readings are kept a while (`_recent`); the API
        refreshes them on its loop first (`refresh_estimates`), so this reads the store only on other threads."""
        if task.status.is_terminal():
            return 0
        readings = [self._recent(key, max_age_s, op) for key, max_age_s, op in self._readings_for(task)]
        history = readings[0]
        speed = statistics.median(history) if history else DEFAULT_SPEED.get(task.engine, 5.0)
        seconds = task.spec.duration if task.spec.duration > 0 else 5
        one_task = speed * seconds + 1.0
        if task.status == TaskStatus.PROCESSING:
            return max(1, math.ceil(one_task * (1 - task.progress / 100)))
        queue, workers = readings[1], max(1, int(readings[2]))
        ahead = bisect.bisect_left(queue, task.created_at)
        return max(1, math.ceil(one_task * (1 + int(ahead) / workers)))

    def _readings_for(self, task: Task) -> Readings:
        """What `estimated_time` reads. The pending queue's creation times and the live workers are read at
        most once a second: every poll of a pending task needs its place in the queue, and counting the queue
        per poll grew with the queue; the worker count changes on a heartbeat's scale."""
        engine, resolution, pending = task.engine, task.spec.resolution, task.status == TaskStatus.PENDING
        readings = self._reading_sets.get((engine, resolution, pending))
        if readings is None:  # built once per kind of task (ops are reusable): a poll allocates none
            readings = [(("speed", engine, resolution), ESTIMATE_CACHE_S, recent_speeds(engine, resolution))]
            if pending:
                readings += [(("queue", engine), WORKERS_CACHE_S, pending_created_at(engine)),
                             (("workers", engine), WORKERS_CACHE_S, live_workers(engine, LIVE_WORKER_S))]
            self._reading_sets[(engine, resolution, pending)] = readings
        return readings

    def _recent(self, key: tuple[str, ...], max_age_s: float, op: Op[T]) -> T:
        """The result of `op`, reused for `max_age_s` under `key`: the store is asked once per interval, not per
        poll."""
        cached = self._readings.get(key)
        now = time.monotonic()
        if cached and (now - cached[1] < max_age_s or key in self._refreshing):  # the loop is reading it anew
            value: T = cached[0]
            return value
        value = self.store.run(op)
        self._readings[key] = (value, now)
        return value

    async def refresh_estimates(self, task: Task) -> None:
        """Bring `estimated_time`'s readings for `task` up to date on the event loop. One read per key at a
        time: while it runs, other polls go on with the value it replaces."""
        if task.status.is_terminal():
            return
        loop = asyncio.get_running_loop()
        if loop is not self._loop:  # a new loop (tests drive apps on several): its reads in flight are gone
            self._loop, self._refreshing = loop, {}
        now = time.monotonic()
        for key, max_age_s, op in self._readings_for(task):
            cached = self._readings.get(key)
            if cached and now - cached[1] < max_age_s:
                continue
            refreshing = self._refreshing.get(key)
            if refreshing is None:
                refreshing = self._refreshing[key] = asyncio.ensure_future(self._refresh(key, op))
            if cached is None:
                await asyncio.shield(refreshing)

    async def _refresh(self, key: tuple[str, ...], op: Op[Any]) -> None:
        try:
            value = await self._run(op)
            self._readings[key] = (value, time.monotonic())
        finally:
            self._refreshing.pop(key, None)

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


def _owned(task: Task | None, owner: str, task_id: str) -> Task:
    """The caller's task; another key's is as missing as one that never existed."""
    if task is None or task.owner != owner:
        raise NotFound(f"task {task_id} not found", code="task_not_found")
    return task


def _submit_steps(task: Task, expired_before: float, admit: Admission | None) -> Steps[tuple[Task, bool]]:
    """A create's one transaction: release the caller's Idempotency-Key if its window is over, admit (limits),
    insert."""
    if task.idempotency_key:
        yield from release_idempotency_key_steps(task.owner, task.idempotency_key, expired_before)
    if admit is not None:
        yield from admit()
    return (yield from insert_task_steps(task))
