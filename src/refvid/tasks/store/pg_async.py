"""The API's PostgreSQL runner: the store's operations (`ops.py`) on psycopg's async pool, on the event loop.

Through the thread pool, each store call cost two thread hand-offs and the GIL traffic between 40 threads,
more than the call itself (bench/RESULTS.md § API): here a poll is one awaited round trip on the loop.

The pool is the sync store's twin (same size, same connection settings, same 1.5 s acquire timeout), opened on
the loop of the first call. An unreachable server is `StoreUnavailable`, as on the sync store. A connection that
died while it sat in the pool (a database restart) is not worth a 503: an operation whose first statement finds
its connection gone is tried once more on a fresh one (nothing of it reached the server), so the pool needs no
liveness round trip per checkout.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from refvid.tasks.store.ops import Op, Rows, T, run_steps_async
from refvid.tasks.store.postgres import (
    CONNECTION_KWARGS,
    RECONNECT_TIMEOUT_S,
    PostgresStore,
    is_unreachable,
    to_pyformat,
    unavailable,
)

AsyncConnection = psycopg.AsyncConnection[dict[str, Any]]


class _NothingSent(Exception):
    """The connection failed before any statement of the operation was answered: safe to try again."""


class PgAsyncRunner:
    """`ops.AsyncRunner` for `PostgresStore`."""

    def __init__(self, store: PostgresStore):
        self.store = store
        self._pool: AsyncConnectionPool[AsyncConnection] | None = None
        self._opening: asyncio.Task[None] | None = None

    async def _opened(self) -> AsyncConnectionPool[AsyncConnection]:
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
        pool = await self._opened()
        try:
            try:
                return await self._run_once(pool, op)
            except _NothingSent as lost:  # a connection that died in the pool; the next one is fresh or alive
                assert lost.__cause__ is not None
                try:
                    return await self._run_once(pool, op)
                except _NothingSent as again:
                    raise again.__cause__ from None  # type: ignore[misc]
        except (psycopg.OperationalError, PoolTimeout) as exc:
            if not is_unreachable(exc):
                raise
            raise unavailable(exc) from exc

    async def _run_once(self, pool: AsyncConnectionPool[AsyncConnection], op: Op[T]) -> T:
        async with pool.connection(timeout=self.store.acquire_timeout_s) as conn:
            answered = 0

            async def query(sql: str, params: Sequence[Any]) -> Rows:
                nonlocal answered
                try:
                    cur = await conn.execute(to_pyformat(sql), tuple(params))
                except psycopg.OperationalError as exc:
                    if answered == 0 and exc.sqlstate is None and conn.broken:
                        raise _NothingSent() from exc
                    raise
                answered += 1
                return await cur.fetchall() if cur.description is not None else []

            if not op.write:
                return await run_steps_async(query, op.steps())
            try:
                async with conn.transaction():
                    return await run_steps_async(query, op.steps())
            except psycopg.OperationalError as exc:  # BEGIN itself found the connection gone
                if answered == 0 and exc.sqlstate is None and conn.broken:
                    raise _NothingSent() from exc
                raise

    def health(self) -> dict[str, Any]:
        return {}

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None
