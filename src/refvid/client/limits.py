"""The size limits a client can know before sending a byte: the contract's per-kind reference limits and the
upload limit (`refvid.contract`). A file over one raises `FileTooLargeError` naming it and the limit, rather
than uploading 60 MiB for the server to refuse, or a task to fail later with `reference_too_large`."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from refvid.client.errors import FileTooLargeError
from refvid.contract import MAX_BYTES, UPLOAD_MAX_BYTES, URL_FIELDS, MediaKind, size_over

__all__ = ["check_reference_sizes", "check_upload_size", "is_url", "refused_upload"]

KINDS: tuple[MediaKind, ...] = ("image", "video", "audio")


def is_url(ref: str | os.PathLike[str]) -> bool:
    """Whether a reference is sent as it is (a URL) rather than uploaded (a local path)."""
    return isinstance(ref, str) and ref.startswith(("http://", "https://", "data:"))


def check_upload_size(name: str, size_bytes: int, limit_bytes: int = UPLOAD_MAX_BYTES,
                      what: str = "one upload", param: str = "file") -> None:
    """FileTooLargeError when `size_bytes` is over `limit_bytes`."""
    if size_bytes > limit_bytes:
        raise FileTooLargeError(f"{name!r} is {size_over(size_bytes, limit_bytes)} for {what} (not sent)",
                                filename=name, limit_bytes=limit_bytes, param=param)


def check_reference_sizes(kinds: Sequence[Sequence[str | os.PathLike[str]]]) -> None:
    """Check every local file of (images, videos, audios) against its kind's limit and the upload limit, all
    before the first upload (so that the third file being too large does not cost the first two's upload)."""
    for kind, refs in zip(KINDS, kinds, strict=True):
        limit = min(MAX_BYTES[kind], UPLOAD_MAX_BYTES)
        for index, ref in enumerate(refs):
            if is_url(ref):
                continue
            path = Path(ref)
            if path.is_file():  # a missing file is reported as FileNotFoundError when it is resolved
                check_upload_size(str(ref), path.stat().st_size, limit, f"one {kind}",
                                  param=f"{URL_FIELDS[kind]}[{index}]")


def refused_upload(error: FileTooLargeError, name: str) -> FileTooLargeError:
    """The server's 413 for an upload, with the file's name added (the server's message names the limit)."""
    refused = FileTooLargeError(f"{name!r} was refused: {error.message}", filename=name,
                                limit_bytes=error.limit_bytes, status_code=error.status_code, type=error.type,
                                code=error.code, param=error.param, body=error.body)
    refused.__cause__ = error
    return refused

