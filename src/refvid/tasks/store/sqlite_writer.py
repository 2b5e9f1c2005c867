"""The API's SQLite runner: reads on the event loop, writes on one writer thread, committed in groups.

A WAL reader never waits for a writer, so a read runs inline (a thread hand-off would cost more than the read).
A write may wait: for another process's write lock (a `refvid worker`, a backup, `VACUUM`: up to the 30 s busy
timeout), and on the event loop that wait froze every request of the process. So the writes queued in one turn
of the loop go out as one batch, committed in one transaction: each in its own savepoint, undone alone when it
raises, and none answered before the COMMIT (so a 200 still means durable); the COMMIT, as costly as the rest
of a create, is shared. The batch first tries the lock on the loop without waiting (a connection whose busy
timeout is 0): when it is free, as it nearly always is, the batch is written there and then, a few hundred
microseconds. When another process holds it, the batch goes to the writer thread, which waits for the lock;
the writes queued meanwhile wait behind it, and everything else goes on. (Writing every batch on the thread
cost two thirds of the create throughput: each statement's return to Python waited for the loop's GIL.)
`health()` reports a batch that has waited longer than `LOCKED_REPORT_S`.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from refvid.errors import StoreUnavailable
from refvid.tasks.store.ops import Op, Outcome, Queued, T, run_steps, settle
from refvid.tasks.store.sqlite import SqliteStore, query_on

#: a batch waiting this long (for another process's write lock) is reported by `/healthz`
LOCKED_REPORT_S = 3.0


class SqliteRunner:
    """`ops.AsyncRunner` for `SqliteStore`; one per app, used from its event loop."""

    def __init__(self, store: SqliteStore):
        self.store = store
        self._queued: list[Queued] = []
        self._writing = False  # a batch is with the writer thread
        self._loop: asyncio.AbstractEventLoop | None = None
        self._batch_since: float | None = None  # when the writer thread began its current batch
        self._writer: ThreadPoolExecutor | None = None  # started on the first write, again after `close`
        self._inline: sqlite3.Connection | None = None  # the loop's, busy timeout 0
        self._waiting: sqlite3.Connection | None = None  # the writer thread's

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
        """Write every queued write as one batch: here if the lock is free, else on the writer thread; then the
        next batch."""
        batch, self._queued = self._queued, []
        if not batch:
            self._writing = False
            return
        ops = [op for op, _ in batch]
        if self._inline is None:
            self._inline = self.store.connect(busy_timeout_s=0)
        if self.store.write_lock.acquire(blocking=False):  # no thread of ours is writing
            try:
                outcomes: list[Outcome] | None = self._write(self._inline, ops)
            except sqlite3.OperationalError as exc:
                outcomes = None if _is_busy(exc) else [(False, exc)] * len(batch)
            finally:
                self.store.write_lock.release()
            if outcomes is not None:
                settle(batch, outcomes)
                self._hand_over()
                return
        if self._writer is None:
            self._writer = ThreadPoolExecutor(1, thread_name_prefix="refvid-sqlite-writer")
        done = asyncio.wrap_future(self._writer.submit(self._commit, ops))
        done.add_done_callback(lambda finished: self._answer(batch, finished))

    def _answer(self, batch: list[Queued],
                finished: asyncio.Future[list[Outcome]]) -> None:
        try:
            failure = StoreUnavailable("the write was abandoned") if finished.cancelled() else finished.exception()
            settle(batch, [(False, failure)] * len(batch) if failure is not None else finished.result())
        finally:
            self._hand_over()  # whatever happened to this batch, the next one goes

    def _commit(self, ops: list[Op[Any]]) -> list[Outcome]:
        """On the writer thread: wait for the lock (up to the busy timeout), then write the batch."""
        self._batch_since = time.monotonic()
        try:
            if self._waiting is None:
                self._waiting = self.store.connect()
            with self.store.write_lock:
                return self._write(self._waiting, ops)
        except sqlite3.OperationalError as exc:  # BEGIN or COMMIT: nothing of the batch was written
            if _is_busy(exc):
                raise StoreUnavailable(f"the database stayed locked by another process: {exc}") from exc
            raise
        finally:
            self._batch_since = None

    def _write(self, conn: sqlite3.Connection, ops: list[Op[Any]]) -> list[Outcome]:
        """Every op of the batch in one transaction on `conn`, each in its own savepoint."""
        store, outcomes, query = self.store, [], query_on(conn)
        try:
            with store.atomic(conn):
                for op in ops:
                    try:
                        with store.atomic(conn):  # a savepoint: this op's writes only
                            outcomes.append((True, run_steps(query, op.steps())))
                    except Exception as exc:  # this op alone failed; its savepoint was rolled back
                        outcomes.append((False, exc))
        except BaseException:
            if conn.in_transaction:  # a failed COMMIT leaves it open
                conn.execute("ROLLBACK")
            raise
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


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    return "locked" in str(exc) or "busy" in str(exc)
