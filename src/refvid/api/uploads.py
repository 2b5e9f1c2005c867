"""Storing uploads, and keeping them off the request path.

Three things here protect everyone else's requests from one client's uploads:

- `copy_upload` sniffs and stores one file; the routes (and `inline_media`) run it on a small pool of their
  own, so copying 50 MB into the blob store never holds one of the threads that every sync route needs. Its
  row is then recorded on the store runner, as every store call is (`record_uploads`, `api/store_calls.py`).
- `UploadSlots` caps the uploads one key may have in flight (429 + `Retry-After` past it) and runs URL
  fetches on their own bounded pool: 48 slow `POST /v1/files/upload/url` from one key used to take 41 of the
  40 request threads and stall `/healthz` for everybody.
- `decode_base64` refuses an oversized payload from its length, before decoding it.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import os
import re
import secrets
import tempfile
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from fastapi import Request

from refvid.api.body_strings import HeldString
from refvid.api.errors import ApiError
from refvid.api.present import base_url
from refvid.api.schemas import FileObject
from refvid.api.store_calls import store_op
from refvid.config import Settings
from refvid.contract import MIB, UPLOAD_MAX_BYTES, format_mb
from refvid.media.fetch import Fetcher
from refvid.media.probe import sniff
from refvid.runtime import Runtime
from refvid.storage.signing import signed_query
from refvid.tasks.store.files import insert_files

MAX_UPLOAD_BYTES = UPLOAD_MAX_BYTES
CONTENT_TYPES = {"jpeg": "image/jpeg", "png": "image/png", "webp": "image/webp", "mp4": "video/mp4",
                 "mov": "video/quicktime", "mp3": "audio/mpeg", "wav": "audio/wav"}
URL_FETCHES_PER_KEY = 8  # concurrent `upload/url` fetches one key may run; more answer 429
BODY_UPLOADS_PER_KEY = 8  # concurrent multipart/base64 uploads one key may send; more answer 429
URL_FETCH_THREADS = 32  # all keys together; a fetch waits for a free thread, never for a request thread
STORE_THREADS = 2  # decoding and copying into the blob store (CPU- and disk-bound)
RETRY_AFTER_S = 2
DECODE_SLICE_CHARS = 256 * 1024  # a multiple of 4
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")
T = TypeVar("T")


CLOSE = {"Connection": "close"}  # a refused body is not read to its end: the connection cannot be reused
# A refused upload is read (and dropped) up to this much before the 413 goes out: httpx, requests and most
# clients send the whole body before reading an answer, and a connection closed under them while they still
# send resets, losing the 413 that was already on its way (they report `ReadError('')`). Past the bound, or
# after DRAIN_MAX_S, the connection is closed anyway: that much is not a mistake worth serving.
DRAIN_MAX_BYTES = 128 * MIB
DRAIN_MAX_S = 30.0


def too_large(param: str | None = "file", limit_bytes: int = MAX_UPLOAD_BYTES) -> ApiError:
    return ApiError(413, f"uploads are limited to {format_mb(limit_bytes)}", "file_too_large", param,
                    headers=CLOSE)


async def drain_body(request: Request, *, started: bool) -> None:
    """Read and drop the rest of a refused request body (at most DRAIN_MAX_BYTES, for at most DRAIN_MAX_S) so
    that the client reads the answer rather than a reset. `started`: whether the body has been read from yet;
    a client that sent `Expect: 100-continue` and was not answered `100 Continue` has sent no body, and
    waits for the answer (curl does this for large bodies), so there is nothing to drain."""
    if not started and request.headers.get("expect", "").lower() == "100-continue":
        return
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and (len(declared) > 18 or int(declared) > DRAIN_MAX_BYTES):
        return  # it would be cut off anyway: reading the first DRAIN_MAX_BYTES of it helps nobody
    drained = 0
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(DRAIN_MAX_S):
            while drained <= DRAIN_MAX_BYTES:
                message = await request.receive()
                if message["type"] != "http.request":
                    return
                drained += len(message.get("body", b""))
                if not message.get("more_body", False):
                    return


def safe_filename(name: str | None, fmt: str | None) -> str:
    """A file name that is safe in a URL path and a Content-Disposition header, ending in the real type."""
    stem = _SAFE_NAME.sub("_", Path(name or "").name).strip("._")[:100] or "file"
    if fmt is None:
        return stem
    extension = {"jpeg": "jpg"}.get(fmt, fmt)
    return stem if stem.lower().endswith("." + extension) else f"{stem}.{extension}"


def temp_file(runtime: Runtime) -> Path:
    """An empty scratch file in the data dir (same filesystem as local blobs, not /tmp)."""
    folder = runtime.settings.data_dir / "tmp"
    folder.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=folder, prefix="upload-")
    os.close(fd)
    return Path(name)


@dataclass(frozen=True, slots=True)
class Upload:
    """A file copied into the blob store (`file`: its wire object), and the row that will record it."""

    file: FileObject
    row: dict[str, Any]


async def record_uploads(request: Request, uploads: Sequence[Upload]) -> None:
    """Record copied uploads' rows, in one write transaction (the file becomes readable by its URL)."""
    if uploads:
        await store_op(request, insert_files([upload.row for upload in uploads]))


def copy_upload(runtime: Runtime, owner: str, source: Path, name: str | None, base: str, *,
                param: str = "file", any_type: bool = False) -> Upload:
    """Sniff `source` and copy it into the blob store; the upload's signed URL under `base` and its row (for
    `record_uploads`). `any_type` keeps an unrecognised file (as `application/octet-stream`) for the worker."""
    with source.open("rb") as fh:
        fmt = sniff(fh.read(64))
    if fmt not in CONTENT_TYPES and not any_type:
        raise ApiError(422, "unsupported file type: upload JPEG, PNG, WebP, MP4, MOV, MP3 or WAV",
                       "unsupported_file_type", param)
    content_type = CONTENT_TYPES.get(fmt or "", "application/octet-stream")
    file_id = "file-" + secrets.token_hex(12)
    filename = safe_filename(name, fmt if fmt in CONTENT_TYPES else None)
    key = f"uploads/{file_id}/{filename}"
    runtime.blobs.put_file(key, source, content_type)
    now = time.time()
    expires_at = int(now + runtime.settings.upload_ttl_s)
    size = source.stat().st_size
    row = {"id": file_id, "owner": owner, "filename": filename, "blob_key": key, "size_bytes": size,
           "content_type": content_type, "created_at": now, "expires_at": expires_at}
    path = f"/v1/files/{file_id}/{filename}"
    url = f"{base}{path}?{signed_query(runtime.signing_secret, path, expires_at)}"
    return Upload(FileObject(id=file_id, filename=filename, url=url, size=size, created=int(now),
                             expires_at=expires_at), row)


def decode_base64_to(data: str | bytes | bytearray, target: Path, max_bytes: int, param: str, start: int = 0,
                     end: int | None = None, blanks: int | None = None) -> int:
    """Base64 text `data[start:end]` (a str, or the bytes of a held body literal: `api/body_strings.py`) → the
    file `target`; its size. 413 from the length alone when the decoded size must exceed `max_bytes`, 422 for
    text that is not base64. Decoded slice by slice: one call decoding 60 MiB holds the GIL (and so the event
    loop) for half a second, a slice for a few milliseconds; and never `data[start:]` itself, which would copy
    it whole in one call. `blanks`, if known, is the whitespace in it."""
    end = len(data) if end is None else end
    if encoded_size_over(data, max_bytes, start, end, blanks):
        raise too_large(param, max_bytes)
    size, empty = 0, data[0:0]
    carry: Any = empty
    try:
        with target.open("wb") as out:
            for offset in range(start, end, DECODE_SLICE_CHARS):
                piece = empty.join((carry + data[offset:min(end, offset + DECODE_SLICE_CHARS)]).split())
                whole = len(piece) - len(piece) % 4
                carry, chunk = piece[whole:], base64.b64decode(piece[:whole], validate=True)
                size += len(chunk)
                if size > max_bytes:
                    raise too_large(param, max_bytes)
                out.write(chunk)
            if carry:
                base64.b64decode(carry, validate=True)  # raises: a whole base64 text has no remainder
    except (binascii.Error, ValueError) as exc:
        raise ApiError(422, f"{param} is not valid base64", f"invalid_{param.split('[')[0]}", param) from exc
    return size


def decode_held_to(held: HeldString, target: Path, max_bytes: int, param: str) -> int:
    """`decode_base64_to` for the payload of a literal the body reader held as bytes."""
    return decode_base64_to(held.raw, target, max_bytes, param, held.payload, held.end, held.blanks)


def encoded_size_over(data: str | bytes | bytearray, max_bytes: int, start: int = 0, end: int | None = None,
                      blanks: int | None = None) -> bool:
    """True when base64 text `data[start:end]` must decode to more than `max_bytes`: 4 characters carry 3
    bytes, less up to 2 bytes of padding. Counting characters is cheap; decoding 60 MiB to learn the same is
    not (nor is slicing it off a `data:` URL: a copy of 60 MiB holds the event loop for a tenth of a second
    and more). Whitespace (line-wrapped base64) is not data, so it is discounted before judging (`blanks`, or
    counted here)."""
    def decoded_at_least(chars: int) -> int:
        return (chars // 4) * 3 - 2

    end = len(data) if end is None else end
    if decoded_at_least(end - start) <= max_bytes:
        return False
    if blanks is None:
        text: Any = data
        blanks = sum(text.count(blank if isinstance(data, str) else blank.encode(), start, end)
                     for blank in " \t\r\n")
    return decoded_at_least(end - start - blanks) > max_bytes


class UploadSlots:
    """Per-key caps on uploads in flight, and the pools their slow parts run on (one per app)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._in_flight: Counter[tuple[str, str]] = Counter()
        self._fetcher: Fetcher | None = None
        self.fetch_pool = ThreadPoolExecutor(URL_FETCH_THREADS, thread_name_prefix="refvid-upload-fetch")
        self.store_pool = ThreadPoolExecutor(STORE_THREADS, thread_name_prefix="refvid-upload-store")

    @staticmethod
    def of(request: Request) -> UploadSlots:
        """The app's slots, made on first use (the app factory needs to know nothing about them)."""
        state = request.app.state
        slots: UploadSlots | None = getattr(state, "upload_slots", None)
        if slots is None:
            slots = state.upload_slots = UploadSlots()
        return slots

    def fetcher(self, settings: Settings) -> Fetcher:
        """One Fetcher for all URL uploads (it is thread-safe, and building its TLS context costs ~20 ms)."""
        with self._lock:
            if self._fetcher is None or self._fetcher.settings is not settings:
                self._fetcher = Fetcher(settings)
            return self._fetcher

    @asynccontextmanager
    async def slot(self, owner: str, kind: str, limit: int) -> AsyncIterator[None]:
        """Hold one of `owner`'s `limit` slots of `kind` ("url" or "body"); 429 when none is free."""
        with self._lock:
            if self._in_flight[(owner, kind)] >= limit:
                raise ApiError(429, f"at most {limit} {kind} uploads at once per key; retry shortly",
                               "too_many_uploads", headers={"Retry-After": str(RETRY_AFTER_S)})
            self._in_flight[(owner, kind)] += 1
        try:
            yield
        finally:
            with self._lock:
                self._in_flight[(owner, kind)] -= 1
                if self._in_flight[(owner, kind)] <= 0:
                    del self._in_flight[(owner, kind)]

    async def fetch(self, call: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self.fetch_pool, call)

    async def store(self, call: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self.store_pool, call)


def request_base(request: Request, runtime: Runtime) -> str:
    """The base of upload URLs: `REFVID_PUBLIC_URL`, else the base the client used."""
    return base_url(request, runtime)
