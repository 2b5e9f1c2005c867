"""The API's SQLite runner: reads on the event loop, writes on one writer thread, committed in groups.

A WAL reader never waits for a writer, so a read runs inline (a thread hand-off would cost more than the read).
A write may wait: for another process's write lock (a `refvid worker`, a backup, `VACUUM`: up to the 30 s busy
timeout), and on the event loop that wait froze every request of the process. Writes therefore go to one
writer thread, which commits all the writes queued since its last batch in one transaction: each in its own
savepoint, undone alone when it raises, and none answered before the COMMIT (so a 200 still means durable).
Under load the batches grow by themselves, and the COMMIT, as costly as the rest of a create, is shared.
While another process holds the lock, writes wait in the queue and everything else goes on; `health()` says
so once the writer has waited longer than `LOCKED_REPORT_S`.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from refvid.errors import StoreUnavailable
from refvid.tasks.store.ops import Op, T, run_steps
from refvid.tasks.store.sqlite import SqliteStore

#: a batch waiting this long (for another process's write lock) is reported by `/healthz`
LOCKED_REPORT_S = 3.0
Outcome = tuple[bool, Any]  # (ok, result or exception)


class SqliteRunner:
    """`ops.AsyncRunner` for `SqliteStore`; one per app, used from its event loop."""

    def __init__(self, store: SqliteStore):
        self.store = store
        self._queued: list[tuple[Op[Any], asyncio.Future[Any]]] = []
        self._writing = False  # a batch is with the writer thread
        self._loop: asyncio.AbstractEventLoop | None = None
        self._batch_since: float | None = None  # when the writer thread began its current batch
        self._writer: ThreadPoolExecutor | None = None  # started on the first write, again after `close`

    async def run(self, op: Op[T]) -> T:
        if not op.write:
            return self.store.run(op)
        loop = asyncio.get_running_loop()
        if loop is not self._loop:  # a new loop (tests drive apps on several): what the old one held is gone
            self._loop, self._queued, self._writing = loop, [], False
        future: asyncio.Future[T] = loop.create_future()
        self._queued.append((op, future))
        if not self._writing:
            self._writing = True
            # after the callbacks already due in this turn: their writes join this batch
            loop.call_soon(self._hand_over)
        return await future

    def _hand_over(self) -> None:
        """Give every queued write to the writer thread as one batch; when it is done, the next."""
        batch, self._queued = self._queued, []
        if not batch:
            self._writing = False
            return
        if self._writer is None:
            self._writer = ThreadPoolExecutor(1, thread_name_prefix="refvid-sqlite-writer")
        done = asyncio.wrap_future(self._writer.submit(self._commit, [op for op, _ in batch]))
        done.add_done_callback(lambda finished: self._answer(batch, finished))

    def _answer(self, batch: list[tuple[Op[Any], asyncio.Future[Any]]],
                finished: asyncio.Future[list[Outcome]]) -> None:
        try:
            failure = StoreUnavailable("the write was abandoned") if finished.cancelled() else finished.exception()
            outcomes = [(False, failure)] * len(batch) if failure is not None else finished.result()
            for (ok, value), (_, future) in zip(outcomes, batch, strict=True):
                if future.done():  # its request went away; what it wrote stays written
                    continue
                if ok:
                    future.set_result(value)
                else:
                    future.set_exception(value)
        finally:
            self._hand_over()  # whatever happened to this batch, the next one goes

    def _commit(self, ops: list[Op[Any]]) -> list[Outcome]:
        """On the writer thread: every op of the batch in one transaction, each in its own savepoint."""
        self._batch_since = time.monotonic()
        store, outcomes = self.store, []
        try:
            with store.write_batch():
                for op in ops:
                    try:
                        with store.transaction(write=True) as q:  # a savepoint: this op's writes only
                            outcomes.append((True, run_steps(q, op.steps())))
                    except Exception as exc:  # this op alone failed; its savepoint was rolled back
                        outcomes.append((False, exc))
        except sqlite3.OperationalError as exc:  # BEGIN or COMMIT: nothing of the batch was written
            if "locked" in str(exc) or "busy" in str(exc):
                raise StoreUnavailable(f"the database stayed locked by another process: {exc}") from exc
            raise
        finally:
            self._batch_since = None
        return outcomes

    def health(self) -> dict[str, Any]:
        since = self._batch_since
        waited_s = time.monotonic() - since if since is not None else 0.0
        return {"write_lock_wait_s": round(waited_s, 1)} if waited_s > LOCKED_REPORT_S else {}

    async def close(self) -> None:
        """Stop the writer thread once its batch is done (an app may be started again: a write starts a new one)."""
        writer, self._writer = self._writer, None
        if writer is not None:
            await asyncio.to_thread(writer.shutdown)
