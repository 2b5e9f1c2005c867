"""Per-key limits: requests per minute, open tasks, and an optional credit budget (spec §2: 429, 402).

- Rate: a token bucket per key and process holding `rate_limit_per_minute` tokens, refilled evenly over a
  minute; every authenticated request takes one. Empty → 429 `rate_limited` with `Retry-After`.
- Open tasks: at most `max_open_tasks` pending + processing tasks per key → 429 `too_many_open_tasks`.
- Budget: credits reserved by the key's tasks created within `credit_budget_window_s` may not pass
  `credit_budget` → 402 `insufficient_quota`. Failed and cancelled tasks give their credits back; deleting
  a task does not (the ledger keeps it).

The checks at create run in the insert's own transaction, behind a per-key lock on PostgreSQL and SQLite's one
writer elsewhere, so they are exact across API processes too. 0 switches a limit off. The rate
limit is off by default (an operator opts into throttling); the open-task default is generous enough for
bench/load.py (1000 concurrent creates).
"""

from __future__ import annotations

import functools
import math
import threading
import time

from refvid.api.errors import ApiError
from refvid.config import Settings
from refvid.tasks.model import Task, TaskSpec
from refvid.tasks.service import TaskService, credits_for
from refvid.tasks.store import SqlStore
from refvid.tasks.store.ledger import credits_used_steps
from refvid.tasks.store.ops import Steps
from refvid.tasks.store.usage import idempotent_task_exists_steps, open_tasks_steps

OPEN_TASKS_RETRY_AFTER_S = 10


class RateLimiter:
    """Token buckets per key (in memory: keys are authenticated, so the map cannot be flooded)."""

    def __init__(self, per_minute: int):
        self.capacity = float(per_minute)
        self.per_s = per_minute / 60.0
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, owner: str) -> float:
        """Take one token; return 0 on success, else the seconds until one is available."""
        if self.capacity <= 0:
            return 0.0
        now = time.monotonic()
        with self._lock:
            tokens, at = self._buckets.get(owner, (self.capacity, now))
            tokens = min(self.capacity, tokens + (now - at) * self.per_s)
            if tokens >= 1.0:
                self._buckets[owner] = (tokens - 1.0, now)
                return 0.0
            self._buckets[owner] = (tokens, now)
            return (1.0 - tokens) / self.per_s


class Limits:
    """The per-key limits of one API process (`app.state.limits`)."""

    def __init__(self, settings: Settings, store: SqlStore):
        self.settings = settings
        self.store = store
        self.rate = RateLimiter(settings.rate_limit_per_minute)

    def check_rate(self, owner: str) -> None:
        """Take one of the key's tokens (every authenticated request does, see api/deps.py); 429 if none."""
        wait_s = self.rate.take(owner)
        if wait_s > 0:
            raise ApiError(429, f"rate limit of {self.settings.rate_limit_per_minute} requests per minute "
                           "reached for this API key; retry later", "rate_limited",
                           headers={"Retry-After": str(max(1, math.ceil(wait_s)))})

    async def submit(self, service: TaskService, owner: str, spec: TaskSpec, engine: str,
                     idempotency_key: str | None, fingerprint: str, reserve_s: int | None = None) -> tuple[Task, bool]:
        """`service.submit` behind the open-task and budget checks, counted in the create's own transaction
        (`_admission`). A replay within the Idempotency-Key window is answered even at a limit (it creates
        nothing)."""
        settings = self.settings
        admit = None
        if settings.max_open_tasks or settings.credit_budget:
            admit = functools.partial(self._admission, owner, idempotency_key, credits_for(spec, reserve_s))
        return await service.submit(owner, spec, engine, idempotency_key, fingerprint, reserve_s, admit=admit)

    def _admission(self, owner: str, idempotency_key: str | None, credits: int) -> Steps[None]:
        """Inside the create's write transaction, before its insert: refuse past a limit. The transaction first
        takes the key's lock where the database runs writers side by side (PostgreSQL), so two creates of one
        key never both pass the last free place; SQLite runs one write transaction at a time anyway."""
        settings = self.settings
        if self.store.owner_lock_sql is not None:
            yield self.store.owner_lock_sql, (owner,)
        refusal = None
        if settings.max_open_tasks and (yield from open_tasks_steps(owner)) >= settings.max_open_tasks:
            refusal = ApiError(429, f"this API key already has {settings.max_open_tasks} pending or processing "
                               "tasks, the most allowed; wait for some to finish", "too_many_open_tasks",
                               headers={"Retry-After": str(OPEN_TASKS_RETRY_AFTER_S)})
        elif settings.credit_budget:
            used = yield from credits_used_steps(owner, time.time() - settings.credit_budget_window_s)
            if used + credits > settings.credit_budget:
                days = settings.credit_budget_window_s / 86400
                refusal = ApiError(402, f"credit budget exhausted: this task needs {credits} credits and "
                                   f"{max(0, settings.credit_budget - used)} of {settings.credit_budget} remain "
                                   f"in the current {days:g}-day window", "insufficient_quota")
        if refusal is not None and not (idempotency_key and (yield from idempotent_task_exists_steps(
                owner, idempotency_key, time.time() - settings.idempotency_ttl_s))):
            raise refusal
