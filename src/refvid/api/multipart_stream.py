"""A multipart upload read as it arrives, with the size limit enforced on every chunk.

Starlette's `request.form()` spools the whole body to a temporary file before the route sees a byte, so a
1 GiB chunked upload used to land on disk (in /tmp) before it was refused. Here python-multipart's
incremental parser is fed straight from the request's ASGI messages: the `file` part goes to the caller's
file, at most `max_bytes` of it, and the request is refused with 413 the moment one more byte arrives (the rest
of the body is then read and dropped, up to a bound, so that the client reads the 413: `uploads.drain_body`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from fastapi import Request
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import ClientDisconnect

from refvid.api.errors import ApiError
from refvid.api.uploads import drain_body, too_large

MAX_PARTS = 10
MAX_FIELD_BYTES = 4096  # the small text fields (file_name, auto_cleanup)


@dataclass
class _Part:
    name: str = ""
    filename: str | None = None
    text: bytearray = field(default_factory=bytearray)


@dataclass
class MultipartUpload:
    """What was read: the file part's client file name and size, and the text fields (`fields` keeps the last
    value of each name, `pairs` every part in order, for forms that repeat a name: `image_urls[]`)."""

    filename: str | None = None
    size_bytes: int = 0
    fields: dict[str, str] = field(default_factory=dict)
    pairs: list[tuple[str, str]] = field(default_factory=list)
    has_file: bool = False


@dataclass(frozen=True)
class FormLimits:
    """What one multipart body may hold: the name of its file part, how many parts, and how many bytes of
    text in one field and in all of them together (text is kept in memory, the file part is not)."""

    file_field: str = "file"
    max_parts: int = MAX_PARTS
    max_field_bytes: int = MAX_FIELD_BYTES
    max_text_bytes: int = MAX_PARTS * MAX_FIELD_BYTES


class _Sink:
    """The parser's callbacks: headers of each part, the `file` part's bytes to `out`, fields to memory."""

    def __init__(self, out: BinaryIO, max_bytes: int, limits: FormLimits) -> None:
        self.out, self.max_bytes, self.limits = out, max_bytes, limits
        self.result = MultipartUpload()
        self.part, self.parts, self.done, self.text_bytes = _Part(), 0, False, 0
        self._header_field, self._headers = bytearray(), dict[bytes, bytes]()
        self._header_value = bytearray()

    def on_part_begin(self) -> None:
        self.parts += 1
        if self.parts > self.limits.max_parts:
            raise ApiError(400, f"a multipart body holds at most {self.limits.max_parts} parts", "invalid_multipart")
        self.part, self._headers = _Part(), {}

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_field += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def on_header_end(self) -> None:
        self._headers[bytes(self._header_field).lower()] = bytes(self._header_value)
        self._header_field, self._header_value = bytearray(), bytearray()

    def on_headers_finished(self) -> None:
        _, options = parse_options_header(self._headers.get(b"content-disposition", b""))
        self.part.name = options.get(b"name", b"").decode("utf-8", "replace")
        filename = options.get(b"filename")
        self.part.filename = filename.decode("utf-8", "replace") if filename is not None else None
        file_field = self.limits.file_field
        if self.part.name == file_field:
            if self.result.has_file:
                raise ApiError(400, f"send exactly one {file_field!r} part", "invalid_multipart", file_field)
            self.result.has_file, self.result.filename = True, self.part.filename

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self.part.name == self.limits.file_field:
            self.result.size_bytes += end - start
            if self.result.size_bytes > self.max_bytes:
                raise too_large(self.part.name, self.max_bytes)
            self.out.write(data[start:end])
            return
        self.part.text += data[start:end]
        self.text_bytes += end - start
        if len(self.part.text) > self.limits.max_field_bytes:
            raise ApiError(400, f"field {self.part.name!r} is longer than {self.limits.max_field_bytes} bytes",
                           "invalid_multipart", self.part.name or None)
        if self.text_bytes > self.limits.max_text_bytes:
            raise ApiError(413, f"the form's text fields hold more than {self.limits.max_text_bytes} bytes",
                           "body_too_large", self.part.name or None, headers={"Connection": "close"})

    def on_part_end(self) -> None:
        if self.part.name and self.part.name != self.limits.file_field:
            value = self.part.text.decode("utf-8", "replace")
            self.result.fields[self.part.name] = value
            self.result.pairs.append((self.part.name, value))

    def on_end(self) -> None:
        self.done = True


def boundary_of(content_type: str) -> bytes:
    """The multipart boundary of a Content-Type header; 400 when it is not multipart/form-data."""
    kind, options = parse_options_header(content_type)
    boundary = options.get(b"boundary", b"")
    if kind != b"multipart/form-data" or not boundary or len(boundary) > 200:
        raise ApiError(400, "send multipart/form-data with a 'file' part", "invalid_content_type")
    return boundary


async def receive_multipart(request: Request, target: Path, max_bytes: int,
                            limits: FormLimits | None = None, *, require_file: bool = True) -> MultipartUpload:
    """Stream the body into `target` (the file part only) and return what was read.
    Raises ApiError: 413 past `max_bytes`, 400 for a malformed body, 422 without a file part (if required)."""
    limits = limits or FormLimits()
    boundary = boundary_of(request.headers.get("content-type", ""))
    with target.open("wb") as out:
        sink = _Sink(out, max_bytes, limits)
        parser = MultipartParser(boundary, callbacks={  # type: ignore[arg-type]
            name: getattr(sink, name) for name in (
                "on_part_begin", "on_part_data", "on_part_end", "on_header_field", "on_header_value",
                "on_header_end", "on_headers_finished", "on_end")})
        more_body = True
        try:
            while more_body:  # the ASGI messages themselves: a refusal must know whether the body has ended
                message = await request.receive()
                if message["type"] == "http.disconnect":
                    raise ClientDisconnect()
                more_body = message.get("more_body", False)
                if chunk := message.get("body", b""):
                    parser.write(chunk)
            parser.finalize()
        except MultipartParseError as exc:
            raise ApiError(400, f"could not read the multipart body: {exc}", "invalid_multipart") from exc
        except ApiError as exc:
            if exc.status == 413 and more_body:  # let the client finish sending, so that it reads the 413
                await drain_body(request, started=True)
            raise
    if not sink.done:
        raise ApiError(400, "the multipart body ended before its closing boundary", "invalid_multipart")
    if require_file and not sink.result.has_file:
        name = limits.file_field
        raise ApiError(422, f"the multipart body needs a {name!r} part", "missing_required_parameter", name)
    return sink.result
