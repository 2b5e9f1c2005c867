"""Store operations as data: each statement is written once, and run by a synchronous or an asynchronous runner.

An operation is a generator that yields `(sql, params)` statements and is sent back each statement's rows;
what it returns is the operation's result:

    @reading
    def get_task(task_id: str) -> Steps[Task | None]:
        rows = yield "SELECT * FROM tasks WHERE id = ?", (task_id,)
        return task_from_row(rows[0]) if rows else None

Decorated with `reading` or `writing`, calling it gives an `Op`: the steps plus whether they need a write
transaction. Workers and maintenance run ops on a thread (`StoreCore.run`, `run_steps`); the API runs the same
ops on its event loop (`AsyncRunner`: psycopg's async pool on PostgreSQL, inline reads and one writer thread on
SQLite). Steps shared by several operations (`reserve_credits`, `record_status_changes`) are sub-generators,
taken in with `yield from`. An exception raised inside the steps rolls their transaction back.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable, Generator, Sequence
from dataclasses import dataclass
from typing import Any, Generic, ParamSpec, Protocol, TypeVar

Rows = list[dict[str, Any]]
Stmt = tuple[str, Sequence[Any]]
T = TypeVar("T")
P = ParamSpec("P")
Steps = Generator[Stmt, Rows, T]
"""Statements out, their rows back in, the result at the end."""


@dataclass(frozen=True, slots=True)
class Op(Generic[T]):
    """One store operation: its steps (made afresh for each try), run in one transaction when `write`, else as
    autocommit statements. `notify`: its transaction also wakes every listening process where the database
    does that (`StoreCore.notify_sql`), once per transaction however many ops share it."""

    steps: Callable[[], Steps[T]]
    write: bool
    notify: bool = False

    def notifying(self) -> Op[T]:
        return Op(self.steps, self.write, notify=True)


def reading(steps: Callable[P, Steps[T]]) -> Callable[P, Op[T]]:
    """An operation of reads only: each statement alone (READ COMMITTED on PostgreSQL, WAL readers on SQLite)."""

    @functools.wraps(steps)
    def op(*args: P.args, **kwargs: P.kwargs) -> Op[T]:
        return Op(functools.partial(steps, *args, **kwargs), write=False)

    return op


def writing(steps: Callable[P, Steps[T]]) -> Callable[P, Op[T]]:
    """An operation that writes: all its statements in one transaction (SQLite: under the write lock)."""

    @functools.wraps(steps)
    def op(*args: P.args, **kwargs: P.kwargs) -> Op[T]:
        return Op(functools.partial(steps, *args, **kwargs), write=True)

    return op


def run_steps(query: Callable[[str, Sequence[Any]], Rows], steps: Steps[T]) -> T:
    """Drive `steps` with a synchronous query function (an open transaction's `Query`)."""
    try:
        stmt = next(steps)
        while True:
            stmt = steps.send(query(*stmt))
    except StopIteration as done:
        result: T = done.value
        return result


async def run_steps_async(query: Callable[[str, Sequence[Any]], Awaitable[Rows]], steps: Steps[T]) -> T:
    """Drive `steps` with an asynchronous query function (an open async transaction's)."""
    try:
        stmt = next(steps)
        while True:
            stmt = steps.send(await query(*stmt))
    except StopIteration as done:
        result: T = done.value
        return result


Outcome = tuple[bool, Any]
"""(ok, result or exception) of one op in a group commit"""
Queued = tuple[Op[Any], "asyncio.Future[Any]"]
"""an op waiting for its group, and the future its caller awaits"""


def settle(batch: Sequence[Queued], outcomes: Sequence[Outcome]) -> None:
    """Answer each queued op of a committed (or failed) group with its own outcome."""
    for (ok, value), (_, future) in zip(outcomes, batch, strict=True):
        if future.done():  # its request went away; what it wrote stays written
            continue
        if ok:
            future.set_result(value)
        else:
            future.set_exception(value)


class AsyncRunner(Protocol):
    """Runs operations for code on an event loop, never blocking it on a network or a lock."""

    async def run(self, op: Op[T]) -> T:
        """The op's result, committed (for a write) before this returns."""

    def health(self) -> dict[str, Any]:
        """Anything an operator should know about the store right now (`/healthz`); empty when all is well."""

    async def close(self) -> None:
        """Release what the runner opened."""
