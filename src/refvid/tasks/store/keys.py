"""API keys and the deployment's own settings kept in the database (`meta`, e.g. the URL signing secret)."""

from __future__ import annotations

import time
from collections.abc import Callable

from refvid.tasks.store.base import StoreCore


class KeyRows(StoreCore):
    """`api_keys` and `meta`."""

    def meta_get_or_set(self, key: str, make: Callable[[], str]) -> str:
        """Read `key`; if absent, store `make()` — the first writer wins across processes."""
        with self.transaction(write=True) as q:
            rows = q("SELECT value FROM meta WHERE key = ?", (key,))
            if rows:
                return str(rows[0]["value"])
            value = make()
            q("INSERT INTO meta (key, value) VALUES (?, ?)", (key, value))
            return value

    def add_api_key(self, key_id: str, key_hash: str, label: str | None = None) -> None:
        with self.transaction(write=True) as q:
            q("INSERT INTO api_keys (id, key_hash, label, created_at) VALUES (?, ?, ?, ?)",
              (key_id, key_hash, label, time.time()))

    def api_key_hashes(self) -> dict[str, str]:
        """key_hash → key id."""
        with self.transaction(write=False) as q:
            return {r["key_hash"]: r["id"] for r in q("SELECT id, key_hash FROM api_keys", ())}
