"""Garbage collection of files past their lifetime: results (video, thumbnail, last frame), uploads, and the
folders of tasks that no longer exist.

Every kind is walked in pages, and what a page deleted is recorded before the next page is read, so a pass
never picks the same thing twice and always ends: a finished task's `collected_at` is set (its result becomes
`{"expired": true}`), an upload's row is deleted after its bytes, and the sweep of `results/` moves a cursor
through the folder names. A pass stops after `max_pages` pages of a kind, or once `budget_s` has run out after
at least one page (the reaper shares the thread); a pass that stopped early says so, and the next follows at
once instead of after the collection interval, so a backlog of any size shrinks at the speed the store and
the disk allow. Files are deleted before their rows are marked: a crash in between only repeats a deletion.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from refvid.metrics import collected
from refvid.storage.base import BlobStore, Removed
from refvid.tasks.store import SqlStore

log = logging.getLogger(__name__)
PAGE_SIZE = 500
MAX_PAGES = 20
PASS_BUDGET_S = 10.0
KINDS = ("result", "upload", "orphan")


@dataclass
class CollectionPass:
    """What one pass deleted, per kind, and whether it reached the end of every kind."""

    removed: dict[str, Removed] = field(default_factory=lambda: dict.fromkeys(KINDS, Removed()))
    items: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    complete: bool = True

    def add(self, kind: str, items: int, removed: Removed) -> None:
        self.items[kind] += items
        self.removed[kind] += removed
        collected(kind, removed.files, removed.size_bytes)


def collection_backlog(store: SqlStore, result_ttl_s: float, now_s: float | None = None) -> dict[str, int]:
    """Items past their lifetime whose files are still kept (`refvid_collection_backlog{kind}`)."""
    now_s = time.time() if now_s is None else now_s
    return {"result": store.count_uncollected_before(now_s - result_ttl_s), "upload": store.count_expired_files(now_s)}


class GarbageCollector:
    """Deletes what has outlived its lifetime, in bounded passes. Holds the orphan sweep's cursor."""

    def __init__(self, store: SqlStore, blobs: BlobStore, result_ttl_s: float, *, page_size: int = PAGE_SIZE,
                 max_pages: int = MAX_PAGES, budget_s: float = PASS_BUDGET_S):
        self.store, self.blobs, self.result_ttl_s = store, blobs, result_ttl_s
        self.page_size, self.max_pages, self.budget_s = page_size, max_pages, budget_s
        self._orphan_cursor: str | None = None

    def run_pass(self, now_s: float | None = None) -> CollectionPass:
        now_s = time.time() if now_s is None else now_s
        report, deadline = CollectionPass(), time.monotonic() + self.budget_s
        for step in (self._results, self._uploads, self._orphans):
            pages, state = 0, StepState(now_s)
            while True:
                finished = step(report, state)
                pages += 1
                if finished:
                    break
                if pages >= self.max_pages or time.monotonic() > deadline:
                    report.complete = False
                    break
        if any(report.items.values()):
            log.info("collected %d results, %d uploads, %d orphaned folders (%d files, %d bytes)%s",
                     report.items["result"], report.items["upload"], report.items["orphan"],
                     sum(r.files for r in report.removed.values()), sum(r.size_bytes for r in report.removed.values()),
                     "" if report.complete else "; more remain, continuing")
        return report

    # Each step handles one page and returns True once its kind has nothing more to give this pass.
    def _results(self, report: CollectionPass, state: StepState) -> bool:
        page = self.store.uncollected_before(state.now_s - self.result_ttl_s, state.task_cursor, self.page_size)
        if not page:
            return True
        removed = Removed()
        for _, task_id in page:
            removed += self.blobs.delete_prefix(f"results/{task_id}/")
        self.store.mark_collected([task_id for _, task_id in page], state.now_s)
        report.add("result", len(page), removed)
        state.task_cursor = page[-1]
        return len(page) < self.page_size

    def _uploads(self, report: CollectionPass, state: StepState) -> bool:
        rows = self.store.expired_files(state.now_s, self.page_size)
        removed = Removed()
        for row in rows:
            removed += self.blobs.delete_prefix(f"uploads/{row['id']}/")
        self.store.delete_files([str(row["id"]) for row in rows])
        report.add("upload", len(rows), removed)
        return len(rows) < self.page_size

    def _orphans(self, report: CollectionPass, state: StepState) -> bool:
        """Folders under `results/` of tasks deleted while their files stayed (a crash between the two)."""
        names = self.blobs.list_folders("results/", self._orphan_cursor, self.page_size)
        self._orphan_cursor = names[-1] if len(names) == self.page_size else None  # the end: start over
        known = self.store.existing_task_ids(names)
        removed, orphans = Removed(), [name for name in names if name not in known]
        for name in orphans:
            removed += self.blobs.delete_prefix(f"results/{name}/")
        report.add("orphan", len(orphans), removed)
        return self._orphan_cursor is None


@dataclass
class StepState:
    """Where one kind's walk stands within a pass."""

    now_s: float
    task_cursor: tuple[float, str] | None = None
