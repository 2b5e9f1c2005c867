"""Blobs on the local disk, under one root folder."""

from __future__ import annotations

import bisect
import contextlib
import os
import shutil
import tempfile
from pathlib import Path, PurePosixPath

from refvid.storage.base import Removed


class LocalBlobStore:
    def __init__(self, root: Path):
        self.root = root.resolve()
        self.root.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        rel = PurePosixPath(key)
        # Keys are ours, but a bug must never turn into a path traversal.
        if rel.is_absolute() or ".." in rel.parts or not rel.parts:
            raise ValueError(f"invalid blob key {key!r}")
        return self.root.joinpath(*rel.parts)

    def put_file(self, key: str, source: Path, content_type: str | None = None) -> None:
        dest = self._path(key)
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=".partial-")
        try:
            with os.fdopen(fd, "wb") as out, source.open("rb") as src:
                shutil.copyfileobj(src, out, 1024 * 1024)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, dest)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def get_to(self, key: str, dest: Path) -> Path:
        shutil.copyfile(self._path(key), dest)
        return dest

    def local_path(self, key: str) -> Path | None:
        path = self._path(key)
        return path if path.is_file() else None

    def presigned_url(self, key: str, expires_s: int) -> str | None:
        return None

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def delete_prefix(self, prefix: str) -> Removed:
        target = self._path(prefix.rstrip("/"))
        if target.is_dir():
            removed = Removed()
            for path in target.rglob("*"):
                with contextlib.suppress(OSError):
                    if path.is_file():
                        removed += Removed(1, path.stat().st_size)
            shutil.rmtree(target, ignore_errors=True)
            return removed
        try:
            size_bytes = target.stat().st_size
            target.unlink()
        except FileNotFoundError:
            return Removed()
        return Removed(1, size_bytes)

    def list_folders(self, prefix: str, after: str | None, limit: int) -> list[str]:
        try:
            names = [entry.name for entry in os.scandir(self._path(prefix.rstrip("/"))) if entry.is_dir()]
        except FileNotFoundError:
            return []
        ordered = sorted(name + "/" for name in names)
        start = bisect.bisect_right(ordered, after + "/") if after is not None else 0
        return [name[:-1] for name in ordered[start:start + limit]]
