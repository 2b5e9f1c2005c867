"""Task polls of one event-loop turn answered by one read: `SELECT … WHERE id IN (…)` instead of one statement each.

Polling is the API's dominant traffic, and on PostgreSQL each statement costs the driver's own work and a round
trip besides the database's: under load many polls reach the loop in the same turn, and they share both."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from refvid.tasks.model import Task
from refvid.tasks.store.ops import Op
from refvid.tasks.store.tasks import get_tasks

#: ids per statement (a turn with more polls reads them in slices)
MAX_IDS = 100
Found = dict[str, Task]


class TaskReads:
    """One per `TaskService`, used from its event loop."""

    def __init__(self, run: Callable[[Op[Found]], Awaitable[Found]]):
        self._run = run
        self._waiting: dict[str, list[asyncio.Future[Task | None]]] = {}
        self._reading: set[asyncio.Future[None]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None

    async def get(self, task_id: str) -> Task | None:
        loop = asyncio.get_running_loop()
        if loop is not self._loop:  # a new loop (tests drive apps on several): what the old one held is gone
            self._loop, self._waiting = loop, {}
        if not self._waiting:
            loop.call_soon(self._read_waiting)  # after the callbacks already due in this turn: their polls join
        future: asyncio.Future[Task | None] = loop.create_future()
        self._waiting.setdefault(task_id, []).append(future)
        return await future

    def _read_waiting(self) -> None:
        waiting, self._waiting = self._waiting, {}
        ids = list(waiting)
        for start in range(0, len(ids), MAX_IDS):
            part = {task_id: waiting[task_id] for task_id in ids[start:start + MAX_IDS]}
            reading = asyncio.ensure_future(self._read(part))
            self._reading.add(reading)  # held until done (the loop keeps only a weak reference)
            reading.add_done_callback(self._reading.discard)

    async def _read(self, waiting: dict[str, list[asyncio.Future[Task | None]]]) -> None:
        try:
            found = await self._run(get_tasks(list(waiting)))
        except Exception as exc:
            for futures in waiting.values():
                for future in futures:
                    if not future.done():
                        future.set_exception(exc)
            return
        for task_id, futures in waiting.items():
            for future in futures:
                if not future.done():
                    future.set_result(found.get(task_id))
