"""Uploaded files (`POST /v1/files/upload/*`): one row per upload, the bytes live in the blob store."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from refvid.tasks.store.base import StoreCore
from refvid.tasks.store.ops import Steps, reading, writing


@writing
def insert_files(rows: Sequence[dict[str, Any]]) -> Steps[None]:
    for row in rows:
        yield ("""INSERT INTO files (id, owner, filename, blob_key, size_bytes, content_type, created_at,
                  expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)""",
               (row["id"], row["owner"], row["filename"], row["blob_key"], row["size_bytes"],
                row.get("content_type"), row["created_at"], row["expires_at"]))


@reading
def get_file(file_id: str) -> Steps[dict[str, Any] | None]:
    rows = yield "SELECT * FROM files WHERE id = ?", (file_id,)
    return rows[0] if rows else None


class FileRows(StoreCore):
    """`files`."""

    def insert_file(self, row: dict[str, Any]) -> None:
        self.run(insert_files([row]))

    def get_file(self, file_id: str) -> dict[str, Any] | None:
        return self.run(get_file(file_id))

    def delete_expired_files(self, now_s: float) -> list[dict[str, Any]]:
        """Delete the rows of uploads past their TTL; return them (their blobs go next)."""
        with self.transaction(write=True) as q:
            return q("DELETE FROM files WHERE expires_at < ? RETURNING *", (now_s,))
