"""The blob store protocol and `open_blob_store(url)`."""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple, Protocol


class Removed(NamedTuple):
    """What a `delete_prefix` removed: garbage collection counts it (`/metrics`)."""

    files: int = 0
    size_bytes: int = 0

    def __add__(self, other: object) -> Removed:
        if not isinstance(other, Removed):
            return NotImplemented
        return Removed(self.files + other.files, self.size_bytes + other.size_bytes)


class BlobStore(Protocol):
    """Keys are relative POSIX paths made by refvid (`results/<task>/video.mp4`), never user input."""

    def put_file(self, key: str, source: Path, content_type: str | None = None) -> None:
        """Store a copy of `source` under `key`, atomically: readers see the whole file or nothing."""
        ...

    def get_to(self, key: str, dest: Path) -> Path:
        """Copy the blob into a local file (raises FileNotFoundError)."""
        ...

    def local_path(self, key: str) -> Path | None:
        """The blob as a local file if it is stored on this machine's disk, else None."""
        ...

    def presigned_url(self, key: str, expires_s: int) -> str | None:
        """A direct, time-limited URL (S3), or None where the API serves the bytes itself."""
        ...

    def exists(self, key: str) -> bool: ...

    def delete_prefix(self, prefix: str) -> Removed:
        """Remove every blob under `prefix` (a folder-like key ending in `/`); say how many and how big."""
        ...

    def list_folders(self, prefix: str, after: str | None, limit: int) -> list[str]:
        """Up to `limit` names of the folders right under `prefix` (`results/` → task ids), in key order
        (a name sorts as name + "/"), starting after `after`: the orphan sweep pages through them."""
        ...


def open_blob_store(url: str, **s3_options: str | None) -> BlobStore:
    """`file:///path` or `s3://bucket/prefix`; `s3_options` (endpoint_url, access_key_id,
    secret_access_key, region) configure the S3 client and are ignored for local disk."""
    if url.startswith("file://"):
        from refvid.storage.local import LocalBlobStore

        return LocalBlobStore(Path(url[len("file://"):]))
    if url.startswith("s3://"):
        from refvid.storage.s3 import S3BlobStore

        return S3BlobStore.from_url(url, **s3_options)
    raise ValueError(f"unsupported storage URL {url!r}: use file:///path or s3://bucket/prefix")
