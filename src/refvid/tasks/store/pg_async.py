"""The API's PostgreSQL runner: the store's operations (`ops.py`) on psycopg's async pool, on the event loop.

Through the thread pool, each store call cost two thread hand-offs and the GIL traffic between 40 threads,
more than the call itself (bench/RESULTS.md § API): here a poll is one awaited round trip on the loop.

The pool is the sync store's twin (same size, same connection settings, same 1.5 s acquire timeout), opened on
the loop of the first call. Writes are committed in groups: those queued while half the pool's connections are
writing go out together in one transaction (one BEGIN, one COMMIT and one NOTIFY for the group: a create's own
statements are few and cheap). Should one of them fail, the group is rolled back and each runs again alone, so
that a write fails only for its own reason.

An unreachable server is `StoreUnavailable`, as on the sync store. A connection that died while it sat in the
pool (a database restart) is not worth a 503: an operation whose first statement finds its connection gone is
tried once more on a fresh one (nothing of it reached the server), so the pool needs no liveness round trip
per checkout.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Sequence
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from refvid.errors import StoreUnavailable
from refvid.tasks.store.ops import Op, Outcome, Queued, Rows, Steps, Stmt, T, run_steps_async, settle
from refvid.tasks.store.postgres import (
    CONNECTION_KWARGS,
    RECONNECT_TIMEOUT_S,
    PostgresStore,
    is_unreachable,
    to_pyformat,
    unavailable,
)

AsyncConnection = psycopg.AsyncConnection[dict[str, Any]]


async def _outcome(attempt: Awaitable[Any]) -> Outcome:
    try:
        return True, await attempt
    except Exception as exc:
        return False, exc


async def _in_lockstep(conn: AsyncConnection, pipeline: psycopg.AsyncPipeline,
                       all_steps: list[Steps[Any]]) -> list[Any]:
    """Run several ops' steps side by side in pipeline mode: the next statement of each op goes out together, and
    their answers come back in one round trip (a group of N creates costs a few round trips, not N times a few)."""
    results: list[Any] = [None] * len(all_steps)
    due: dict[int, Stmt] = {}
    for index, steps in enumerate(all_steps):
        _advance(steps, None, index, due, results)
    while due:
        cursors = [(index, await conn.execute(to_pyformat(sql), tuple(params))) for index, (sql, params) in due.items()]
        await pipeline.sync()
        due = {}
        for index, cursor in cursors:
            rows = await cursor.fetchall() if cursor.description is not None else []
            _advance(all_steps[index], rows, index, due, results)
    return results


def _advance(steps: Steps[Any], rows: Rows | None, index: int, due: dict[int, Stmt], results: list[Any]) -> None:
    """Send `rows` into `steps` (None: start it); its next statement goes into `due`, or its result into
    `results`."""
    try:
        due[index] = next(steps) if rows is None else steps.send(rows)
    except StopIteration as done:
        results[index] = done.value


class _NothingSent(Exception):
    """The connection failed before any statement of the operation was answered: safe to try again."""


class PgAsyncRunner:
    """`ops.AsyncRunner` for `PostgresStore`."""

    def __init__(self, store: PostgresStore):
        self.store = store
        self._pool: AsyncConnectionPool[AsyncConnection] | None = None
        self._opening: asyncio.Future[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queued: list[Queued] = []
        self._batches = 0  # write transactions in flight
        self._committing: set[asyncio.Future[None]] = set()
        self._max_batches = max(1, store.pool_size // 2)  # the other connections stay free for reads

    async def _opened(self) -> AsyncConnectionPool[AsyncConnection]:
        loop = asyncio.get_running_loop()
        if loop is not self._loop:  # a new loop (tests drive apps on several): the old one's pool is gone
            self._loop, self._pool, self._queued, self._batches = loop, None, [], 0
        if self._pool is None:
            self._pool = AsyncConnectionPool(
                self.store.conninfo, min_size=self.store.pool_size, max_size=self.store.pool_size,
                kwargs=CONNECTION_KWARGS, connection_class=AsyncConnection, name="refvid-api",
                reconnect_timeout=RECONNECT_TIMEOUT_S, open=False)
            self._opening = asyncio.ensure_future(self._pool.open(wait=False))
        if self._opening is not None and not self._opening.done():
            await asyncio.shield(self._opening)
        return self._pool

    async def run(self, op: Op[T]) -> T:
        await self._opened()
        if not op.write:
            return await self._guarded(self._run_alone(op))
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._queued.append((op, future))
        if len(self._queued) == 1 and self._batches < self._max_batches:
            asyncio.get_running_loop().call_soon(self._start_batch)  # the writes of this turn join it
        return await future

    def _start_batch(self) -> None:
        batch, self._queued = self._queued, []
        if batch:
            self._batches += 1
            committing = asyncio.ensure_future(self._commit(batch))
            self._committing.add(committing)  # held until done (the loop keeps only a weak reference)
            committing.add_done_callback(self._committing.discard)

    async def _commit(self, batch: list[Queued]) -> None:
        """One transaction for every write of `batch` (and one NOTIFY); if any of them fails, the batch is rolled
        back and each write runs again alone, so that only the failing one fails. Then the next batch: the
        writes queued while this one ran."""
        try:
            try:
                outcomes: list[Outcome] = [(True, value) for value in
                                           await self._guarded(self._run_together([op for op, _ in batch]))]
            except StoreUnavailable as exc:
                outcomes = [(False, exc)] * len(batch)
            except Exception:
                outcomes = [await _outcome(self._guarded(self._run_alone(op))) for op, _ in batch]
            settle(batch, outcomes)
        finally:
            self._batches -= 1
            if self._queued and self._batches < self._max_batches:
                self._start_batch()

    async def _guarded(self, attempt: Awaitable[T]) -> T:
        """An unreachable server → `StoreUnavailable`."""
        try:
            return await attempt
        except (psycopg.OperationalError, PoolTimeout) as exc:
            if not is_unreachable(exc):
                raise
            raise unavailable(exc) from exc

    async def _run_alone(self, op: Op[T]) -> T:
        result: T = (await self._run_together([op]))[0]
        return result

    async def _run_together(self, ops: list[Op[Any]]) -> list[Any]:
        pool = await self._opened()
        try:
            return await self._run_once(pool, ops)
        except _NothingSent:  # a connection that died in the pool; the next one is fresh or alive
            try:
                return await self._run_once(pool, ops)
            except _NothingSent as again:
                assert isinstance(again.__cause__, psycopg.OperationalError)
                raise again.__cause__ from None

    async def _run_once(self, pool: AsyncConnectionPool[AsyncConnection], ops: list[Op[Any]]) -> list[Any]:
        async with pool.connection(timeout=self.store.acquire_timeout_s) as conn:
            answered = 0

            async def query(sql: str, params: Sequence[Any]) -> Rows:
                nonlocal answered
                cur = await conn.execute(to_pyformat(sql), tuple(params))
                answered += 1
                return await cur.fetchall() if cur.description is not None else []

            try:
                if not ops[0].write:
                    return [await run_steps_async(query, ops[0].steps())]
                if len(ops) == 1:
                    async with conn.transaction():
                        result = await run_steps_async(query, ops[0].steps())
                        if ops[0].notify and self.store.notify_sql is not None:
                            await query(self.store.notify_sql, ())
                        return [result]
                async with conn.pipeline() as pipeline, conn.transaction():
                    results = await _in_lockstep(conn, pipeline, [op.steps() for op in ops])
                    if self.store.notify_sql is not None and any(op.notify for op in ops):
                        await conn.execute(self.store.notify_sql)
                    answered += 1
                    return results
            except psycopg.OperationalError as exc:
                if answered == 0 and exc.sqlstate is None and conn.broken:
                    raise _NothingSent() from exc
                raise

    def health(self) -> dict[str, Any]:
        return {}

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None
