"""Time limits at the HTTP edge, for clients that open a connection and then send slowly or not at all.

uvicorn bounds the idle time between requests (`timeout_keep_alive`) but neither the time a client may take
to send its request headers nor the pauses within a body: 300 connections dripping one header byte at a time
stayed open for as long as their clients liked. `protocol_class()` is uvicorn's own HTTP protocol (httptools,
else h11; what `http="auto"` picks) with three deadlines added, and `refvid serve` runs with it (cli.py):

- a request's headers must be complete within HEADER_TIMEOUT_S of the connection opening (or of the previous
  response on a kept-alive connection);
- while the app is reading a body, BODY_IDLE_TIMEOUT_S without a byte closes the connection (time in which
  uvicorn itself paused reading, because the app was busy, does not count);
- a body must be complete within BODY_TOTAL_TIMEOUT_S of its headers (a 64 MiB body needs ~110 KB/s).

A closed connection reaches the app as a client disconnect (logged as one line, answered by nobody).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from typing import Any

HEADER_TIMEOUT_S = 10.0
BODY_IDLE_TIMEOUT_S = 20.0
BODY_TOTAL_TIMEOUT_S = 600.0
MAX_INCOMPLETE_EVENT_BYTES = 64 * 1024  # h11: the largest request line + headers it buffers


try:  # uvicorn's "auto" prefers httptools when installed
    import httptools  # noqa: F401
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol as _Base
except ImportError:  # pragma: no cover  (httptools ships with uvicorn[standard])
    from uvicorn.protocols.http.h11_impl import H11Protocol as _Base  # type: ignore[assignment]


SWEEP_EVERY_S = 1.0  # how often open connections are checked against their deadlines


class DeadlineProtocol(_Base):
    """Closes a connection whose client is too slow to send a request's headers or body.

    The deadlines are checked by one sweep per second over this process's open connections, not by a timer per
    connection re-armed on every response: on the polling path that was a cancel and a new heap entry per
    request, and cancelled timers pile up in the event loop's heap under load."""

    _phase_started = 0.0  # when we started waiting for the current request's headers
    _last_data = 0.0
    _cycle: Any = None  # the request being watched, and when its headers were seen complete
    _cycle_started = 0.0

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        _no_delay(transport)
        self._phase_started = self._last_data = self.loop.time()
        _watch(self)

    def data_received(self, data: bytes) -> None:
        self._last_data = self.loop.time()
        super().data_received(data)

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._phase_started = self.loop.time()  # the next request on this connection: same deadline

    def connection_lost(self, exc: Exception | None) -> None:
        _open.discard(self)
        super().connection_lost(exc)

    def check_deadlines(self, now: float) -> None:
        """Close the connection if its client has been too slow (see the module docstring)."""
        if self.transport.is_closing():
            return
        cycle = getattr(self, "cycle", None)
        if cycle is None or cycle.response_complete:  # waiting for the headers of a request
            if now - self._phase_started >= HEADER_TIMEOUT_S:
                self.transport.close()
            return
        if cycle is not self._cycle:
            self._cycle, self._cycle_started = cycle, now
        if cycle.more_body:  # the body is still arriving
            if self.flow.read_paused:  # uvicorn stopped reading: the app is busy, not the client
                self._last_data = now
            if now - self._last_data >= BODY_IDLE_TIMEOUT_S or now - self._cycle_started >= BODY_TOTAL_TIMEOUT_S:
                self.transport.close()


def _no_delay(transport: Any) -> None:
    """TCP_NODELAY on every TCP connection. asyncio sets it only when the listening socket was made with
    `proto=IPPROTO_TCP`, and the one uvicorn shares between `--api-workers` processes is made with proto 0:
    there, each answer (headers, then body: two writes) waited ~40 ms for the client's delayed ACK, and two
    processes answered 1,450 polls a second where one answered 4,400."""
    sock = transport.get_extra_info("socket")
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


_open: set[DeadlineProtocol] = set()
_sweeping: set[asyncio.AbstractEventLoop] = set()


def _watch(protocol: DeadlineProtocol) -> None:
    _open.add(protocol)
    if protocol.loop not in _sweeping:
        _sweeping.add(protocol.loop)
        protocol.loop.call_later(SWEEP_EVERY_S, _sweep, protocol.loop)


def _sweep(loop: asyncio.AbstractEventLoop) -> None:
    now = loop.time()
    for protocol in [p for p in _open if p.loop is loop]:
        protocol.check_deadlines(now)
    loop.call_later(SWEEP_EVERY_S, _sweep, loop)


def protocol_class() -> type[asyncio.Protocol]:
    """uvicorn's HTTP protocol class with the deadlines of the module docstring (module-level, so that
    `--api-workers` can hand it to spawned processes)."""
    return DeadlineProtocol


def edge_options() -> dict[str, Any]:
    """The uvicorn.run() keyword arguments that install these limits (h11's header buffer cap included)."""
    return {"http": protocol_class(), "h11_max_incomplete_event_size": MAX_INCOMPLETE_EVENT_BYTES}
