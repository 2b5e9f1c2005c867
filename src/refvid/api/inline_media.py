"""`data:` URLs in a create request: refused at submit when too large, otherwise stored once as an upload.

A task used to keep every `data:` URL in its spec: 12 creates with a 60 MiB image grew the database by
gigabytes, and every list, poll and webhook event re-read and re-parsed those megabytes. Now

- a `data:` URL whose decoded size must exceed its kind's limit (`refvid.contract.MAX_BYTES`) is a 422
  naming the field (`image_urls[0]`, code `reference_too_large`), judged from the length of its base64 text,
  never by decoding it;
- an accepted one is decoded once, on the upload pool, and stored as an upload blob (as
  `POST /v1/files/upload/base64` would), and the task keeps only that upload's URL, which the worker resolves
  internally. Its content is still judged when the task runs (format, pixel size, duration), so a `data:`
  URL fails or succeeds exactly as it did before.

A long `data:` URL arrives here as the stand-in for bytes the body reader held (`api/body_strings.py`): it is
judged and decoded from those bytes, never turned into a `str`.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from fastapi import Request

from refvid.api.body_strings import HeldString, held_string
from refvid.api.errors import ApiError
from refvid.api.uploads import (
    MAX_UPLOAD_BYTES,
    Upload,
    UploadSlots,
    copy_upload,
    decode_base64_to,
    decode_held_to,
    encoded_size_over,
    record_uploads,
    request_base,
    temp_file,
)
from refvid.contract import MAX_BYTES, URL_FIELDS, MediaKind, format_mb
from refvid.errors import ValidationFailed
from refvid.runtime import Runtime
from refvid.tasks.model import TaskSpec

_FRAME_FIELDS = ("image_url", "end_image_url")  # image-to-video frames are images
DATA_URL_KEYS = dict.fromkeys((*URL_FIELDS.values(), *_FRAME_FIELDS), False)
"""Where a create body holds `data:` URLs (FoxAPI's and OpenAI's names): the body reader keeps them as bytes."""


def inline_references(request: Any) -> list[tuple[str, MediaKind, str]]:
    """(param, kind, URL) of every `data:` URL of a create request or a TaskSpec, in field order."""
    found: list[tuple[str, MediaKind, str]] = []
    for kind, field in URL_FIELDS.items():
        for index, url in enumerate(getattr(request, field, None) or ()):
            if _is_data_url(url):
                found.append((f"{field}[{index}]", kind, url))
    for field in _FRAME_FIELDS:
        frame = getattr(request, field, None)
        if isinstance(frame, str) and _is_data_url(frame):
            found.append((field, "image", frame))
    return found


def check_inline_sizes(request: Any) -> None:
    """ValidationFailed (422, `reference_too_large`, naming the field) for a `data:` URL over its limit."""
    for param, kind, url in inline_references(request):
        held = held_string(url)
        over = encoded_size_over(held.raw, MAX_BYTES[kind], held.payload, held.end, held.blanks) if held else \
            encoded_size_over(url, MAX_BYTES[kind], payload_start(url))
        if over:
            raise ValidationFailed(f"{param}: the data: URL holds more than {format_mb(MAX_BYTES[kind])}, the "
                                   f"limit for one {kind}; upload large files (POST /v1/files/upload/stream)",
                                   code="reference_too_large", param=param)


async def store_inline_media(spec: TaskSpec, owner: str, runtime: Runtime, request: Request) -> TaskSpec:
    """`spec` with each `data:` URL replaced by the URL of an upload holding its bytes (sizes checked first)."""
    check_inline_sizes(spec)
    found = inline_references(spec)
    if not found:
        return spec
    base = request_base(request, runtime)

    sources = [(param, held_string(url) or url) for param, _, url in found]  # the stand-ins of this request

    def copy_all() -> dict[str, Upload]:
        return {param: _copy_one(runtime, owner, base, param, source) for param, source in sources}

    uploads = await UploadSlots.of(request).store(copy_all)
    await record_uploads(request, list(uploads.values()))
    stored = {param: upload.file.url for param, upload in uploads.items()}
    changes: dict[str, Any] = {}
    for field in URL_FIELDS.values():
        urls = getattr(spec, field)
        changes[field] = tuple(stored.get(f"{field}[{index}]", url) for index, url in enumerate(urls))
    for field in _FRAME_FIELDS:
        changes[field] = stored.get(field, getattr(spec, field))
    return dataclasses.replace(spec, **changes)


def payload_start(url: str) -> int:
    """Where a `data:` URL's payload begins (after its comma): judged and decoded in place, never sliced off."""
    return url.find(",") + 1


def _copy_one(runtime: Runtime, owner: str, base: str, param: str, url: str | HeldString) -> Upload:
    target = temp_file(runtime)
    try:
        try:
            if isinstance(url, HeldString):  # no `%` in it: held literals are never percent-encoded
                decode_held_to(url, target, MAX_UPLOAD_BYTES, param)
            else:
                _decode_url(url, target, param)
        except ApiError as exc:  # the kind's own limit was checked before; only "not base64" is left
            raise ValidationFailed(f"{param}: the data: URL is not valid base64", code=exc.code or "",
                                   param=param) from exc
        name = param.replace("[", "-").rstrip("]")
        return copy_upload(runtime, owner, target, name, base, param=param, any_type=True)
    finally:
        target.unlink(missing_ok=True)


def _decode_url(url: str, target: Path, param: str) -> None:
    payload, start = url, payload_start(url)
    if url.find("%", start) >= 0:  # percent-encoded base64 is still base64 (RFC 2397)
        payload, start = unquote(url[start:]), 0
    decode_base64_to(payload, target, MAX_UPLOAD_BYTES, param, start)


def _is_data_url(url: object) -> bool:
    return isinstance(url, str) and url[:5].lower() == "data:"
