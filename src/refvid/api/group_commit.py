"""Group commit for the writes of a create: those that reach the event loop in the same turn share one
transaction, and each request answers only after that transaction has committed (so a 200 still means the
task is durable).

On SQLite a create is a few inserts and a COMMIT, and the COMMIT cost as much as the inserts and the rest of
the request's own code together (profiled under wrk, bench/RESULTS.md § API). The store lock is held only
while the batch is written, all in one callback, never across requests. Each create keeps its own outcome:
its writes run in a savepoint, so one that raises (a reused Idempotency-Key, a limit) is undone alone and
the others commit. A failed COMMIT fails every create of its batch, and none of them was written.

Stores that answer over a network (PostgreSQL) run each create on the thread pool in its own transaction,
as before: there the round trips, not the commit, are the cost.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

from starlette.concurrency import run_in_threadpool

from refvid.tasks.store import SqlStore

P = ParamSpec("P")
T = TypeVar("T")


class GroupCommit:
    """One per app (`app.state.group_commit`), used from its event loop only."""

    def __init__(self, store: SqlStore):
        self.store = store
        self._queued: list[tuple[Callable[[], Any], asyncio.Future[Any]]] = []

    async def run(self, call: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """`call(*args, **kwargs)`, a write, committed before this returns its result (or raises its error)."""
        if not self.store.answers_locally:
            return await run_in_threadpool(call, *args, **kwargs)
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        if not self._queued:
            loop.call_soon(self._commit)  # after the callbacks already due in this turn: their creates join
        self._queued.append((functools.partial(call, *args, **kwargs), future))
        return await future

    def _commit(self) -> None:
        queued, self._queued = self._queued, []
        outcomes: list[tuple[bool, Any]] = []
        try:
            with self.store.write_batch():
                for call, _ in queued:
                    try:
                        with self.store.transaction(write=True):  # a savepoint: this create's writes only
                            outcomes.append((True, call()))
                    except Exception as exc:  # this create alone failed; its savepoint was rolled back
                        outcomes.append((False, exc))
        except Exception as exc:  # BEGIN or COMMIT failed (a full disk, say): nothing of the batch was written
            for _, future in queued:
                if not future.done():
                    future.set_exception(exc)
            return
        for (ok, value), (_, future) in zip(outcomes, queued, strict=True):
            if future.done():  # its request was cancelled (the client went away); the task exists anyway
                continue
            if ok:
                future.set_result(value)
            else:
                future.set_exception(value)
