"""Limits at the HTTP edge, for clients that send too much, too slowly, or stop reading.

uvicorn bounds the idle time between requests (`timeout_keep_alive`) but not the size of a request's headers
under httptools (its `h11_max_incomplete_event_size` binds h11 only), nor the time a client may take to send
them, nor pauses within a body, nor a client that stops reading its answer (issue 27: four connections pushed
35-61 MiB of headers each, a request with 500,000 headers got a 200, 100 stalled downloads were all still held
after 20 s). `EdgeProtocol` adds these in front of whatever HTTP protocol uvicorn would run (`http="auto"`:
httptools, else h11), using only asyncio's public protocol and transport interface and uvicorn's public
`http=` option, which takes a protocol class:

- the header block (request line and headers) may hold at most `max_header_bytes` and `max_header_count`
  lines, counted before any byte reaches the parser: past them the client gets 431 (414 when the request line
  alone is too long) in the error shape of the dialect its path names, and the connection closes;
- a request's headers must be complete within `header_timeout_s` of the connection opening (or of the
  previous answer on a kept-alive connection);
- while a body is expected, `body_idle_timeout_s` without a byte closes the connection (time in which the
  server itself paused reading, because the app was busy, does not count), and a body must be complete within
  BODY_TOTAL_TIMEOUT_S of its headers;
- while the answer waits for the client to read (the socket's send buffer is full), `write_timeout_s`
  without progress aborts the connection;
- an answer given before the body was read (a 413 refused on its declared length, a 401 or 429) closes the
  connection gracefully: the write side is shut after the answer and up to LINGER_BYTES of the rest of the
  body, within LINGER_S, are read and dropped without parsing, so a client that sends its whole body before
  reading (httpx, the Python SDKs) reads the answer instead of a connection reset.

Where a request begins and ends is told by `watch_requests` (api/edge_asgi.py), an ASGI middleware that finds
the connection in a context variable this protocol sets. The limits come from Settings (`configure`).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import json
import socket
from dataclasses import dataclass
from typing import Any

from uvicorn.config import HTTP_PROTOCOLS
from uvicorn.importer import import_from_string

from refvid.config import Settings

BODY_TOTAL_TIMEOUT_S = 600.0  # a 64 MiB body needs ~110 KB/s
LINGER_BYTES = 128 * 1024 * 1024
LINGER_S = 10.0
SWEEP_EVERY_S = 1.0  # how often open connections are checked against their deadlines


@dataclass(frozen=True)
class EdgeLimits:
    header_timeout_s: float = 10.0
    body_idle_timeout_s: float = 20.0
    write_timeout_s: float = 30.0
    max_header_bytes: int = 64 * 1024
    max_header_count: int = 100

    @classmethod
    def of(cls, settings: Settings) -> EdgeLimits:
        return cls(settings.header_timeout_s, settings.body_idle_timeout_s, settings.write_timeout_s,
                   settings.max_header_bytes, settings.max_header_count)


_limits = EdgeLimits()
current_connection: contextvars.ContextVar[EdgeProtocol | None] = contextvars.ContextVar(
    "refvid_edge_connection", default=None)


def configure(settings: Settings) -> None:
    """Take the edge limits from `settings` (each API process calls it before serving)."""
    global _limits
    _limits = EdgeLimits.of(settings)


class _Transport:
    """The transport the HTTP protocol is given: the real one, except that closing it while the request's
    body is still arriving lingers (module docstring)."""

    def __init__(self, real: asyncio.Transport, edge: EdgeProtocol):
        self._real, self._edge, self._closing = real, edge, False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    def is_closing(self) -> bool:
        return self._closing or self._real.is_closing()

    def close(self) -> None:
        self._closing = True
        self._edge.close_after_answer()


class EdgeProtocol(asyncio.Protocol):
    """uvicorn's HTTP protocol behind the limits of the module docstring (see `edge_options`)."""

    def __init__(self, config: Any, server_state: Any, app_state: Any, _loop: Any = None) -> None:
        inner_class = import_from_string(HTTP_PROTOCOLS["auto"])
        self.inner: asyncio.Protocol = inner_class(config=config, server_state=server_state,
                                                   app_state=app_state, _loop=_loop)
        self.loop: asyncio.AbstractEventLoop = _loop or asyncio.get_event_loop()
        self.limits = _limits
        self.transport: asyncio.Transport | None = None
        self.phase = "headers"  # headers → request → (answered) headers …; or linger once closing
        self.phase_started = self.last_data = self.loop.time()
        self._header_bytes = self._header_lines = 0
        self._line_bytes: int | None = None  # the request line's length, once its end is seen
        self._tail = b""  # the last bytes of the header block so far (a boundary may straddle two reads)
        self._head = b""  # the block's first bytes: the request line names the dialect of a refusal
        self.body_bytes = 0
        self.body_length: int | None = 0  # None: chunked, length unknown
        self.body_done = True
        self._write_paused_at: float | None = None
        self._lingered = 0

    # asyncio.Protocol ---------------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        _no_delay(transport)
        self.phase_started = self.last_data = self.loop.time()
        _watch(self)
        self.inner.connection_made(_Transport(transport, self))  # type: ignore[arg-type]

    def data_received(self, data: bytes) -> None:
        self.last_data = self.loop.time()
        if self.phase == "linger":
            self._lingered += len(data)
            if self._lingered > LINGER_BYTES and self.transport is not None:
                self.transport.abort()
            return
        if self.phase == "headers" and not self._scan_headers(data):
            return
        if self.phase == "request":
            self.body_bytes += len(data)
        if current_connection.get() is not self:
            current_connection.set(self)  # the request's task copies this context: watch_requests finds us
        self.inner.data_received(data)

    def eof_received(self) -> bool | None:
        if self.phase == "linger":
            return False  # the client is done sending: close
        return self.inner.eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        _open.discard(self)
        self.inner.connection_lost(exc)

    def pause_writing(self) -> None:
        self._write_paused_at = self.loop.time()
        self.inner.pause_writing()

    def resume_writing(self) -> None:
        self._write_paused_at = None
        self.inner.resume_writing()

    # told by watch_requests ---------------------------------------------------------------------------
    def request_started(self, body_length: int | None) -> None:
        if self.phase == "linger":
            return
        if self.phase == "headers":  # a pipelined request, its headers read while the last one was answered
            self.phase, self.phase_started, self.body_bytes = "request", self.loop.time(), 0
        self.body_length, self.body_done = body_length, body_length == 0

    def request_body_done(self) -> None:
        self.body_done = True

    def answered(self) -> None:
        """The answer is complete: the next bytes are the headers of the connection's next request, unless
        the body of this one is still coming (answered before it was read): then the connection lingers and
        closes rather than have the parser wade through the rest of the body."""
        if self.phase == "linger":  # already closing (uvicorn closed it as the answer went out)
            return
        if self.body_arriving():
            self.close_after_answer()
            return
        self.phase, self.phase_started = "headers", self.loop.time()
        self._header_bytes = self._header_lines = 0
        self._line_bytes = None
        self._tail = self._head = b""

    # ------------------------------------------------------------------------------------------------
    def body_arriving(self) -> bool:
        """Whether the current request's body is still expected from the client."""
        if self.phase != "request" or self.body_done:
            return False
        return self.body_length is None or self.body_bytes < self.body_length

    def close_after_answer(self) -> None:
        """The HTTP protocol closes the connection: at once, or after lingering if the body is still coming."""
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        if self.body_arriving() and transport.can_write_eof():
            self.phase, self.phase_started = "linger", self.loop.time()
            transport.write_eof()  # the answer goes out, then FIN; we keep reading (and dropping) the rest
            transport.resume_reading()  # uvicorn paused it when the app left the body unread
        else:
            transport.close()

    def _scan_headers(self, data: bytes) -> bool:
        """Count the header block's bytes and lines; False once the request is refused."""
        if len(self._head) < 256:
            self._head += data[:256]
        window = self._tail + data
        end = window.find(b"\r\n\r\n")
        used = len(data) if end < 0 else end + 4 - len(self._tail)
        if self._line_bytes is None and (line_end := data.find(b"\n", 0, used)) >= 0:
            self._line_bytes = self._header_bytes + line_end
        self._header_bytes += used
        self._header_lines += data.count(b"\n", 0, used)
        limits = self.limits
        if self._header_bytes > limits.max_header_bytes or self._header_lines > limits.max_header_count + 1:
            self._refuse()
            return False
        if end < 0:
            self._tail = window[-3:]
            return True
        self.phase, self.body_bytes, self.body_done = "request", -used, False  # data's body bytes count next
        self.body_length = None
        self.phase_started = self.loop.time()
        return True

    def _refuse(self) -> None:
        line_done = self._line_bytes is not None and self._line_bytes <= self.limits.max_header_bytes
        status, reason = (431, "Request Header Fields Too Large") if line_done else (414, "URI Too Long")
        what = (f"request headers are larger than {self.limits.max_header_bytes} bytes or "
                f"{self.limits.max_header_count} fields") if line_done else \
            f"request line is longer than {self.limits.max_header_bytes} bytes"
        body = refusal_body(self._head, status, what)
        head = (f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\n"
                f"content-length: {len(body)}\r\nconnection: close\r\n\r\n").encode()
        assert self.transport is not None
        self.transport.write(head + body)
        self.phase, self.phase_started = "linger", self.loop.time()
        self._lingered = 0
        if self.transport.can_write_eof():
            self.transport.write_eof()
        else:  # pragma: no cover  (TLS transports)
            self.transport.close()

    def check_deadlines(self, now: float) -> None:
        """Close the connection if its client has been too slow (see the module docstring)."""
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        limits = self.limits
        if self._write_paused_at is not None and now - self._write_paused_at >= limits.write_timeout_s:
            transport.abort()  # close() would wait for the buffer to drain, which it never will
        elif self.phase == "headers":
            if now - self.phase_started >= limits.header_timeout_s:
                transport.close()
        elif self.phase == "linger":
            if now - self.phase_started >= LINGER_S:
                transport.close()
        elif self.body_arriving():
            if not transport.is_reading():  # the server paused reading: the app is busy, not the client
                self.last_data = now
            if (now - self.last_data >= limits.body_idle_timeout_s
                    or now - self.phase_started >= BODY_TOTAL_TIMEOUT_S):
                transport.close()


def refusal_body(head: bytes, status: int, message: str) -> bytes:
    """A refusal at the edge in the error shape of the dialect the request line's path names (spec §2, §9)."""
    target = head.split(b" ", 2)[1] if head.count(b" ") >= 1 else b""
    if target.startswith(b"/api/v3/"):
        error: dict[str, Any] = {"code": "InvalidParameter", "message": message, "param": "",
                                 "type": "BadRequest"}
    else:
        code = "request_header_fields_too_large" if status == 431 else "uri_too_long"
        error = {"message": message, "type": "invalid_request_error", "code": code, "param": None}
    return json.dumps({"error": error}).encode()


def _no_delay(transport: asyncio.Transport) -> None:
    """TCP_NODELAY on every TCP connection. asyncio sets it only when the listening socket was made with
    `proto=IPPROTO_TCP`, and the one uvicorn shares between `--api-workers` processes is made with proto 0:
    there, each answer (headers, then body: two writes) waited ~40 ms for the client's delayed ACK, and two
    processes answered 1,450 polls a second where one answered 4,400."""
    sock = transport.get_extra_info("socket")
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


# One sweep per second over this process's open connections, not a timer per connection re-armed on every
# answer: on the polling path that was a cancel and a new heap entry per request.
_open: set[EdgeProtocol] = set()
_sweeping: set[asyncio.AbstractEventLoop] = set()


def _watch(protocol: EdgeProtocol) -> None:
    _open.add(protocol)
    if protocol.loop not in _sweeping:
        _sweeping.add(protocol.loop)
        protocol.loop.call_later(SWEEP_EVERY_S, _sweep, protocol.loop)


def _sweep(loop: asyncio.AbstractEventLoop) -> None:
    now = loop.time()
    for protocol in [p for p in _open if p.loop is loop]:
        protocol.check_deadlines(now)
    loop.call_later(SWEEP_EVERY_S, _sweep, loop)


def edge_options(settings: Settings) -> dict[str, Any]:
    """The uvicorn.run() keyword arguments that install these limits."""
    configure(settings)
    return {"http": EdgeProtocol}
