"""Uploaded files (`POST /v1/files/upload/*`): one row per upload, the bytes live in the blob store."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from refvid.tasks.store.base import StoreCore
from refvid.tasks.store.ops import Steps, reading, writing

UPLOAD_PATH = re.compile(r"^/v1/files/(file-[a-z0-9]{8,64})/[^/]+$")


def upload_id_of(url: str) -> str | None:
    """The upload id if `url` has the shape of a URL this server issued for an upload."""
    try:
        match = UPLOAD_PATH.match(urlsplit(url).path)
    except ValueError:
        return None
    return match.group(1) if match else None


@writing
def insert_files(rows: Sequence[dict[str, Any]]) -> Steps[None]:
    for row in rows:
        yield ("""INSERT INTO files (id, owner, filename, blob_key, size_bytes, content_type, created_at,
                  expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)""",
               (row["id"], row["owner"], row["filename"], row["blob_key"], row["size_bytes"],
                row.get("content_type"), row["created_at"], row["expires_at"]))


@writing
def keep_files_until(owner: str, file_ids: Sequence[str], until_s: int) -> Steps[None]:
    """Let these uploads of `owner` live until `until_s` at least (a lifetime is never shortened)."""
    marks = ", ".join("?" * len(file_ids))
    yield (f"UPDATE files SET expires_at = ? WHERE owner = ? AND expires_at < ? AND id IN ({marks})",
           (until_s, owner, until_s, *file_ids))


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

    def expired_files(self, now_s: float, limit: int) -> list[dict[str, Any]]:
        """Up to `limit` uploads past their TTL, oldest first. Their rows go only after their blobs
        (`delete_files`), so a pass cut short leaves them for the next one instead of orphaning the bytes."""
        with self.transaction(write=False) as q:
            return q("SELECT * FROM files WHERE expires_at < ? ORDER BY expires_at, id LIMIT ?", (now_s, limit))

    def delete_files(self, file_ids: Sequence[str]) -> None:
        if not file_ids:
            return
        marks = ", ".join("?" * len(file_ids))
        with self.transaction(write=True) as q:
            q(f"DELETE FROM files WHERE id IN ({marks})", tuple(file_ids))

    def count_expired_files(self, now_s: float) -> int:
        """Uploads past their TTL still kept: the uploads' collection backlog."""
        with self.transaction(write=False) as q:
            rows = q("SELECT COUNT(*) AS n FROM files WHERE expires_at < ?", (now_s,))
        return int(rows[0]["n"])
