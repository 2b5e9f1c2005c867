"""Live workers: each touches its row while it runs, so the API can tell whether an engine is served."""

from __future__ import annotations

import time
from collections.abc import Sequence

from refvid.tasks.store.base import StoreCore
from refvid.tasks.store.ops import Steps, reading


class WorkerRows(StoreCore):
    """`workers`."""

    def touch_worker(self, worker_id: str, engines: Sequence[str], hostname: str) -> None:
        now = time.time()
        with self.transaction(write=True) as q:
            updated = q("UPDATE workers SET last_seen_at = ?, engines = ? WHERE id = ? RETURNING id",
                        (now, ",".join(engines), worker_id))
            if not updated:
                q("INSERT INTO workers (id, engines, hostname, started_at, last_seen_at) VALUES (?, ?, ?, ?, ?)",
                  (worker_id, ",".join(engines), hostname, now, now))

    def remove_worker(self, worker_id: str) -> None:
        with self.transaction(write=True) as q:
            q("DELETE FROM workers WHERE id = ?", (worker_id,))

    def live_workers(self, engine: str, within_s: float) -> int:
        return self.run(live_workers(engine, within_s))


@reading
def live_workers(engine: str, within_s: float) -> Steps[int]:
    """How many workers serving `engine` were seen in the last `within_s` seconds."""
    rows = yield "SELECT engines FROM workers WHERE last_seen_at >= ?", (time.time() - within_s,)
    return sum(1 for r in rows if engine in str(r["engines"]).split(","))
