"""Test helpers for the reference-media layer: a local HTTP server, a port trap, stub DNS and connect.

Nothing here ever connects anywhere but loopback: the stub connector refuses every non-loopback address,
and the stub resolver answers only from its table or for IP literals (no real DNS).
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpcore

from refvid.config import Settings
from refvid.net.guard import system_connector, system_resolver

Handler = Callable[[BaseHTTPRequestHandler], None]


def settings(tmp_path: Path, **overrides: Any) -> Settings:
    """Settings for tests: data dir under tmp_path, loopback allowed unless overridden."""
    values: dict[str, Any] = {"data_dir": tmp_path / "data", "fetch_allow_hosts": ["127.0.0.1"],
                              "fetch_timeout_s": 5.0}
    values.update(overrides)
    return Settings(**values)


@dataclass
class MediaServer:
    """A ThreadingHTTPServer on 127.0.0.1 serving registered routes; records every request."""

    routes: dict[str, Handler] = field(default_factory=dict)
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)

    def start(self) -> MediaServer:
        server_self = self

        class _Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server_self.requests.append((self.path, dict(self.headers.items())))
                route = server_self.routes.get(self.path.split("?")[0])
                if route is None:
                    self.send_error(404)
                    return
                route(self)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def count(self, path: str | None = None) -> int:
        return sum(1 for p, _ in self.requests if path is None or p.split("?")[0] == path)

    def add_bytes(self, path: str, data: bytes, *, content_length: bool = True, delay_s: float = 0.0) -> str:
        def handle(h: BaseHTTPRequestHandler) -> None:
            time.sleep(delay_s)
            h.send_response(200)
            h.send_header("Content-Type", "application/octet-stream")
            if content_length:
                h.send_header("Content-Length", str(len(data)))
            h.end_headers()  # HTTP/1.0: without Content-Length the body ends when the connection closes
            with contextlib.suppress(OSError):  # the client may give up early (size cap): expected
                h.wfile.write(data)

        self.routes[path] = handle
        return self.url(path)

    def add_file(self, path: str, file: Path, **kwargs: Any) -> str:
        return self.add_bytes(path, file.read_bytes(), **kwargs)

    def add_redirect(self, path: str, location: str, status: int = 302) -> str:
        def handle(h: BaseHTTPRequestHandler) -> None:
            h.send_response(status)
            h.send_header("Location", location)
            h.send_header("Content-Length", "0")
            h.end_headers()

        self.routes[path] = handle
        return self.url(path)

    def add_status(self, path: str, status: int, delay_s: float = 0.0) -> str:
        def handle(h: BaseHTTPRequestHandler) -> None:
            time.sleep(delay_s)
            h.send_error(status)

        self.routes[path] = handle
        return self.url(path)

    def add_drip(self, path: str, interval_s: float = 0.2, max_s: float = 8.0) -> str:
        """Headers at once, then one byte every `interval_s`: defeats per-read timeouts, not a deadline."""
        def handle(h: BaseHTTPRequestHandler) -> None:
            h.send_response(200)
            h.send_header("Content-Length", "1000000")
            h.end_headers()
            end = time.monotonic() + max_s
            try:
                while time.monotonic() < end:
                    h.wfile.write(b"x")
                    h.wfile.flush()
                    time.sleep(interval_s)
            except OSError:
                pass

        self.routes[path] = handle
        return self.url(path)


class PortTrap:
    """Listens on the same port on 127.0.0.1 and ::1 and counts accepted connections (must stay 0)."""

    def __init__(self) -> None:
        self.accepted = 0
        self._socks: list[socket.socket] = []
        for _ in range(20):
            v4 = socket.socket(socket.AF_INET)
            v4.bind(("127.0.0.1", 0))
            self.port = v4.getsockname()[1]
            v6 = socket.socket(socket.AF_INET6)
            try:
                v6.bind(("::1", self.port))
            except OSError:
                v4.close()
                v6.close()
                continue
            self._socks = [v4, v6]
            break
        for sock in self._socks:
            sock.listen(8)
            sock.settimeout(0.1)
            threading.Thread(target=self._accept, args=(sock,), daemon=True).start()

    def _accept(self, sock: socket.socket) -> None:
        while True:
            try:
                conn, _ = sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.accepted += 1
            conn.close()

    def close(self) -> None:
        if self._socks:
            time.sleep(0.05)  # let a connection that did get through be counted
        for sock in self._socks:
            sock.close()
        self._socks = []


class StubNet:
    """Injectable resolver + connector: names answer from `table` (IP literals resolve normally, other names
    fail like NXDOMAIN); connections are recorded and refused unless the address is loopback."""

    def __init__(self, table: dict[str, list[str]] | None = None) -> None:
        self.table = table or {}
        self.resolved: list[str] = []
        self.attempts: list[tuple[str, int]] = []

    def resolve(self, host: str, port: int) -> list[str]:
        self.resolved.append(host)
        if host in self.table:
            return self.table[host]
        try:
            ipaddress.ip_address(host)
        except ValueError:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known") from None
        return system_resolver(host, port)

    def connect(self, ip: str, port: int, timeout_s: float | None) -> httpcore.NetworkStream:
        self.attempts.append((ip, port))
        if ipaddress.ip_address(ip).is_loopback:
            return system_connector(ip, port, timeout_s)
        raise httpcore.ConnectError(f"test refuses to connect to {ip}")

    def kwargs(self) -> dict[str, Any]:
        return {"resolver": self.resolve, "connector": self.connect}
