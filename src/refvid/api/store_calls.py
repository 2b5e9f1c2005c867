"""How every route reaches the store and other blocking work: the one policy, stated once.

1. **Store operations** (`refvid.tasks.store.ops`: each statement written once) run on the app's `AsyncRunner`,
   awaited on the event loop: `TaskService`'s use cases, and `store_op` for the rest. On PostgreSQL that is
   psycopg's async pool, with no thread hand-off; on SQLite a read runs inline (WAL: it never waits for a writer)
   and a write goes to the one writer thread, which commits the writes queued meanwhile together. So nothing
   that waits for the write lock runs on the loop, and on either database the route's code is the same.
2. **Everything else that blocks** (blob files, a provider asked about a relayed task, store calls not yet
   written as operations such as webhook secrets) runs on the thread pool: `blocking`. Uploads' decoding and
   copying have pools of their own (`api/uploads.py`), sized so that big files cannot take every thread.
3. **Presenting** a task is CPU only, on the loop, once `TaskService.refresh_estimates` has brought its
   estimate's readings up to date on the runner (`present_fresh`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, ParamSpec, TypeVar

from fastapi import Request
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from refvid.tasks.model import Task
from refvid.tasks.service import TaskService
from refvid.tasks.store.ops import AsyncRunner, Op

ModelT = TypeVar("ModelT", bound=BaseModel)
P = ParamSpec("P")
T = TypeVar("T")


def runner_of(request: Request) -> AsyncRunner:
    runner: AsyncRunner = request.app.state.store_runner
    return runner


async def store_op(request: Request, op: Op[T]) -> T:
    """A store operation on the app's runner (policy 1)."""
    return await runner_of(request).run(op)


async def blocking(call: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """A call that may block on a file, a socket or a lock, on the thread pool (policy 2)."""
    return await run_in_threadpool(call, *args, **kwargs)


async def present_fresh(service: TaskService, task: Task, present: Callable[[Task], ModelT]) -> ModelT:
    """`present(task)` with up-to-date estimate readings (policy 3)."""
    await service.refresh_estimates(task)
    return present(task)


async def present_polled(service: TaskService, fetch: Awaitable[Task], present: Callable[[Task], ModelT], *,
                         sync_upstream: bool) -> ModelT:
    """A poll's answer: the task read on the runner; with `sync_upstream`, a relayed task still processing
    first refreshed from its provider (over the network: `blocking`)."""
    task = await fetch
    if sync_upstream and service.may_sync_upstream(task):
        task = await blocking(service.sync_upstream, task)
    return await present_fresh(service, task, present)


async def close_runner(state: Any) -> None:
    """At the app's shutdown: release what the runner opened (its pool, its writer thread)."""
    runner: AsyncRunner | None = getattr(state, "store_runner", None)
    if runner is not None:
        await runner.close()
