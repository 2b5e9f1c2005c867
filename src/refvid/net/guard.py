"""Outbound-connection policy for untrusted URLs (reference media, webhooks): the SSRF guard.

The address is checked when the connection is opened, not when the URL is parsed: a custom httpcore network
backend resolves the hostname itself, refuses if ANY answer is not a public address, and then connects to
the checked IP. httpcore still knows the original hostname, so TLS SNI, certificate checks and the Host header
are unchanged. Checking the resolved address (not the URL text) is what catches `2130706433`, `0x7f.1` or
`[::ffff:7f00:1]`: getaddrinfo normalises them all to 127.0.0.1 before we look.
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
import time
from collections.abc import Callable, Iterable
from typing import Any

import httpcore
import httpx

from refvid.config import Settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], list[str]]
"""(host, port) -> IP address strings. Raise OSError (e.g. socket.gaierror) when the name does not resolve."""
Connector = Callable[[str, int, "float | None"], httpcore.NetworkStream]
"""(ip, port, timeout_s) -> an open stream. Raise httpcore.ConnectError / ConnectTimeout on failure."""

_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_SHARED = ipaddress.IPv4Network("100.64.0.0/10")  # carrier-grade NAT; Python's is_private misses it


class ForbiddenDestination(httpx.TransportError):
    """The URL points somewhere we never connect to (non-public address, scheme, userinfo)."""

    def __init__(self, reason: str, *, host: str = "", address: str = "") -> None:
        super().__init__(reason)
        self.reason, self.host, self.address = reason, host, address


def system_resolver(host: str, port: int) -> list[str]:
    """Every address getaddrinfo gives for `host`, in its order, without duplicates."""
    answers = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in answers))


def system_connector(ip: str, port: int, timeout_s: float | None) -> httpcore.NetworkStream:
    """Open a TCP connection to an already-checked IP literal (no name lookup happens for a literal)."""
    return httpcore.SyncBackend().connect_tcp(ip, port, timeout=timeout_s, socket_options=[])


def embedded_ipv4(ip: IPAddress) -> list[ipaddress.IPv4Address]:
    """IPv4 addresses an IPv6 address routes to: IPv4-mapped, NAT64 (64:ff9b::/96), 6to4, Teredo."""
    if isinstance(ip, ipaddress.IPv4Address):
        return []
    if ip.ipv4_mapped is not None:
        return [ip.ipv4_mapped]
    if ip in _NAT64:
        return [ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)]
    if ip.sixtofour is not None:
        return [ip.sixtofour]
    if ip.teredo is not None:
        return list(ip.teredo)  # (server, client): both must be public
    return []


def describe_blocked(ip: IPAddress) -> str | None:
    """None if `ip` is a public unicast address, else why not (as the tail of a sentence)."""
    inner = embedded_ipv4(ip)
    if inner:
        # The outer IPv6 form (::ffff:0:0/96, 2002::/16, 2001::/32) is judged by what it wraps.
        reasons = [r for r in (describe_blocked(v4) for v4 in inner) if r]
        return f"{reasons[0]} (embedded in {ip})" if reasons else None
    checks: list[tuple[bool, str]] = [
        (ip.is_unspecified, "an unspecified address"),
        (ip.is_loopback, "a loopback address"),
        (ip.is_link_local, "a link-local address"),
        (ip.is_multicast, "a multicast address"),  # 224/4 and ff0e:: count as "global" in Python 3.11
        (isinstance(ip, ipaddress.IPv4Address) and ip in _SHARED, "a shared (carrier-grade NAT) address"),
        (ip.is_reserved, "a reserved address"),
        (ip.is_private, "a private address"),
        (not ip.is_global, "not a public address"),
    ]
    return next((reason for hit, reason in checks if hit), None)


def literal_address(host: str) -> IPAddress | None:
    """The IP address a host written as a literal means, in any form a resolver accepts: dotted, with a
    trailing dot, bracketed IPv6, or the short, decimal, octal and hex IPv4 forms inet_aton takes
    (`127.1`, `2130706433`, `0x7f000001`). None for a name."""
    host = host.strip("[]").rstrip(".")
    try:
        return ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        pass
    if not host or not all(part and (part.isdigit() or part.lower().startswith("0x")) for part in host.split(".")):
        return None
    try:
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except OSError:
        return None


class AddressPolicy:
    """Public addresses only, plus `Settings.fetch_allow_hosts` (hostnames, IPs or CIDRs) as exceptions."""

    def __init__(self, allow: Iterable[str] = ()) -> None:
        self._hosts: set[str] = set()
        self._networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
        for entry in allow:
            entry = entry.strip().strip("[]")
            try:
                self._networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                self._hosts.add(entry.lower().rstrip("."))

    def blocked_reason(self, host: str, address: str) -> str | None:
        """Why connecting to `address` (an answer for `host`) is refused, or None when it is allowed."""
        ip = ipaddress.ip_address(address.split("%", 1)[0])  # drop an IPv6 zone id ("fe80::1%eth0")
        if host.lower().rstrip(".") in self._hosts:
            return None
        candidates = [ip, *embedded_ipv4(ip)]
        if any(c in net for c in candidates for net in self._networks if c.version == net.version):
            return None
        return describe_blocked(ip)


class _DeadlineStream(httpcore.NetworkStream):
    """Clamps every socket timeout to a wall-clock deadline, so a slow-drip server cannot outlast it."""

    def __init__(self, inner: httpcore.NetworkStream, deadline: float) -> None:
        self._inner, self._deadline = inner, deadline

    def _timeout(self, timeout: float | None, exc: type[Exception]) -> float:
        remaining = self._deadline - time.monotonic()
        if remaining <= 0:
            raise exc("deadline exceeded")
        return remaining if timeout is None else min(timeout, remaining)

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, self._timeout(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, self._timeout(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(self, ssl_context: Any, server_hostname: str | None = None,
                  timeout: float | None = None) -> httpcore.NetworkStream:
        timeout = self._timeout(timeout, httpcore.ConnectTimeout)
        tls = self._inner.start_tls(ssl_context, server_hostname, timeout)
        return _DeadlineStream(tls, self._deadline)

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class GuardedBackend(httpcore.NetworkBackend):
    """httpcore network backend that resolves, checks every answer, then connects to a checked IP."""

    def __init__(self, policy: AddressPolicy, resolver: Resolver | None = None,
                 connector: Connector | None = None, deadline: float | None = None) -> None:
        self.policy, self.deadline = policy, deadline
        self._resolve = resolver or system_resolver
        self._connect = connector or system_connector

    def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                    local_address: str | None = None,
                    socket_options: Iterable[Any] | None = None) -> httpcore.NetworkStream:
        host = host.strip("[]")
        literal = literal_address(host)  # `127.0.0.1.` or `0x7f.1` is an address, whatever a resolver says
        try:
            addresses = [str(literal)] if literal is not None else self._resolve(host, port)
        except (OSError, UnicodeError) as exc:
            raise httpcore.ConnectError(f"cannot resolve {host}: {exc}") from exc
        if not addresses:
            raise httpcore.ConnectError(f"cannot resolve {host}: no addresses")
        for address in addresses:  # all answers first: one bad answer taints the name (DNS rebinding)
            reason = self.policy.blocked_reason(host, address)
            if reason:
                raise ForbiddenDestination(f"host {host} resolves to {address}, {reason}", host=host,
                                           address=address)
        last: Exception = httpcore.ConnectError(f"cannot connect to {host}")
        for address in addresses:
            try:
                stream = self._connect(address, port, self._clamp(timeout))
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last = exc
                continue
            return stream if self.deadline is None else _DeadlineStream(stream, self.deadline)
        raise last

    def connect_unix_socket(self, path: str, timeout: float | None = None,
                            socket_options: Iterable[Any] | None = None) -> httpcore.NetworkStream:
        raise ForbiddenDestination("unix sockets are not allowed")

    def _clamp(self, timeout: float | None) -> float | None:
        if self.deadline is None:
            return timeout
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise httpcore.ConnectTimeout("deadline exceeded")
        return remaining if timeout is None else min(timeout, remaining)


class GuardedTransport(httpx.HTTPTransport):
    """httpx.HTTPTransport whose connection pool connects only through a GuardedBackend.

    HTTPTransport has no public way to pass a network backend, so the pool it built is replaced; everything
    else (request/response mapping, exception mapping) is httpx's own code.
    """

    def __init__(self, backend: GuardedBackend, ssl_context: ssl.SSLContext | None = None) -> None:
        # Building an SSL context loads the CA bundle (~20 ms): callers making many clients pass one in.
        ssl_context = ssl_context or httpx.create_ssl_context(trust_env=False)
        super().__init__(verify=ssl_context, trust_env=False)
        self._pool = httpcore.ConnectionPool(ssl_context=ssl_context, network_backend=backend)


def check_url(url: httpx.URL) -> None:
    """Refuse schemes other than http(s), embedded credentials, host-less URLs and ports outside 1-65535 (before
    any connection; `destination_problem` applies it to every dialect's `callback_url` at submit)."""
    if url.scheme not in ("http", "https"):
        raise ForbiddenDestination(f"scheme {url.scheme or '(none)'!r} is not allowed (http or https only)")
    if url.userinfo:
        raise ForbiddenDestination("URLs with user:password@ credentials are not allowed")
    if not url.host:
        raise ForbiddenDestination("URL has no host")
    if url.port is not None and not 1 <= url.port <= 65535:
        raise ForbiddenDestination(f"port {url.port} is outside 1-65535")


def destination_problem(settings: Settings, url: str) -> str | None:
    """Why `url` can never be reached, judged without DNS (at submit time): bad scheme, credentials, no host,
    or an IP literal, in any of its spellings, outside the address policy. Names are checked when each
    connection opens."""
    try:
        parsed = httpx.URL(url)
        check_url(parsed)
    except (ForbiddenDestination, httpx.InvalidURL, ValueError) as exc:
        return str(exc)
    address = literal_address(parsed.host)
    if address is None:
        return None
    return AddressPolicy(settings.fetch_allow_hosts).blocked_reason(parsed.host, str(address))


def _check_request(request: httpx.Request) -> None:
    check_url(request.url)


def safe_client(settings: Settings, *, resolver: Resolver | None = None, connector: Connector | None = None,
                timeout_s: float | None = None, deadline_s: float | None = None) -> httpx.Client:
    """An httpx.Client for any traffic to user-supplied URLs (webhooks): same address policy, no proxies from
    the environment, no redirects. Refusals raise ForbiddenDestination (an httpx.TransportError).
    `deadline_s` bounds the whole exchange in wall-clock time, however slowly the peer drips its bytes."""
    deadline = None if deadline_s is None else time.monotonic() + deadline_s
    backend = GuardedBackend(AddressPolicy(settings.fetch_allow_hosts), resolver, connector, deadline)
    return httpx.Client(
        transport=GuardedTransport(backend), trust_env=False, follow_redirects=False,
        timeout=httpx.Timeout(timeout_s or settings.fetch_timeout_s),
        event_hooks={"request": [_check_request]},
    )
