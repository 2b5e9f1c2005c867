"""The SSRF address policy and the guarded connection path (no connection leaves loopback)."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import httpcore
import httpx
import pytest

from refvid.net.guard import (
    AddressPolicy,
    ForbiddenDestination,
    GuardedBackend,
    describe_blocked,
    embedded_ipv4,
    safe_client,
)
from tests.support.media_servers import MediaServer, PortTrap, StubNet, settings

BLOCKED = [
    ("127.0.0.1", "loopback"), ("127.255.0.9", "loopback"), ("::1", "loopback"), ("0.0.0.0", "unspecified"),
    ("::", "unspecified"), ("10.0.0.5", "private"), ("172.16.3.4", "private"), ("172.31.255.255", "private"),
    ("192.168.1.1", "private"), ("100.64.0.1", "shared"), ("100.127.255.254", "shared"),
    ("169.254.169.254", "link-local"), ("fe80::1", "link-local"), ("fd00:ec2::254", "private"),
    ("224.0.0.1", "multicast"), ("239.255.255.250", "multicast"), ("ff0e::1", "multicast"),
    ("ff02::1", "multicast"), ("255.255.255.255", "reserved"), ("240.0.0.1", "reserved"),
    ("198.18.0.1", "private"), ("192.0.2.1", "private"), ("::ffff:127.0.0.1", "loopback"),
    ("::ffff:10.0.0.1", "private"), ("64:ff9b::a00:1", "private"), ("64:ff9b::7f00:1", "loopback"),
    ("2002:a00:1::", "private"), ("2002:7f00:1::1", "loopback"),
    ("2001:0:4136:e378:8000:63bf:3fff:fdd2", "private"),  # Teredo, client 192.0.2.45
]
ALLOWED = ["8.8.8.8", "93.184.216.34", "1.1.1.1", "2606:4700:4700::1111", "::ffff:8.8.8.8",
           "64:ff9b::808:808", "2002:808:808::1"]


@pytest.mark.parametrize(("address", "reason"), BLOCKED)
def test_non_public_addresses_are_blocked(address: str, reason: str) -> None:
    description = describe_blocked(ipaddress.ip_address(address))
    assert description is not None and reason in description


@pytest.mark.parametrize("address", ALLOWED)
def test_public_addresses_are_allowed(address: str) -> None:
    assert describe_blocked(ipaddress.ip_address(address)) is None


def test_embedded_ipv4_unwraps_every_transition_form() -> None:
    def unwrap(a: str) -> list[str]:
        return [str(v4) for v4 in embedded_ipv4(ipaddress.ip_address(a))]

    assert unwrap("::ffff:7f00:1") == ["127.0.0.1"]
    assert unwrap("64:ff9b::c0a8:101") == ["192.168.1.1"]
    assert unwrap("2002:c0a8:101::") == ["192.168.1.1"]
    assert unwrap("2001:0:4136:e378:8000:63bf:3fff:fdd2") == ["65.54.227.120", "192.0.2.45"]
    assert unwrap("2606:4700::1") == []


def test_allow_list_accepts_ips_cidrs_and_hostnames() -> None:
    policy = AddressPolicy(["127.0.0.1", "10.0.0.0/8", "Media.Test", "[::1]"])
    assert policy.blocked_reason("x", "127.0.0.1") is None
    assert policy.blocked_reason("x", "::ffff:127.0.0.1") is None  # same address, mapped form
    assert policy.blocked_reason("x", "::1") is None
    assert policy.blocked_reason("x", "10.200.1.1") is None
    assert policy.blocked_reason("media.test", "192.168.9.9") is None
    assert policy.blocked_reason("x", "127.0.0.2") == "a loopback address"
    assert policy.blocked_reason("other.test", "192.168.9.9") == "a private address"
    assert AddressPolicy().blocked_reason("x", "127.0.0.1") == "a loopback address"


def test_any_blocked_answer_taints_the_name() -> None:
    net = StubNet({"mixed.test": ["93.184.216.34", "10.0.0.1"]})
    backend = GuardedBackend(AddressPolicy(), **net.kwargs())
    with pytest.raises(ForbiddenDestination, match=r"mixed\.test resolves to 10\.0\.0\.1, a private address"):
        backend.connect_tcp("mixed.test", 80)
    assert net.attempts == []


def test_connects_to_the_checked_address_only() -> None:
    net = StubNet({"public.test": ["93.184.216.34", "2606:2800:220:1::1"]})
    backend = GuardedBackend(AddressPolicy(), **net.kwargs())
    with pytest.raises(httpcore.ConnectError, match="refuses"):
        backend.connect_tcp("public.test", 8080)
    assert net.resolved == ["public.test"]
    assert net.attempts == [("93.184.216.34", 8080), ("2606:2800:220:1::1", 8080)]


def test_unresolvable_name_is_a_connect_error() -> None:
    net = StubNet()
    with pytest.raises(httpcore.ConnectError, match=r"cannot resolve nowhere\.test"):
        GuardedBackend(AddressPolicy(), **net.kwargs()).connect_tcp("nowhere.test", 80)


def test_unix_sockets_are_refused() -> None:
    with pytest.raises(ForbiddenDestination):
        GuardedBackend(AddressPolicy()).connect_unix_socket("/var/run/docker.sock")


def test_safe_client_refuses_loopback_without_connecting(tmp_path: Path, trap: PortTrap) -> None:
    with safe_client(settings(tmp_path, fetch_allow_hosts=[])) as client:
        for url in (f"http://127.0.0.1:{trap.port}/hook", f"http://[::1]:{trap.port}/hook",
                    f"http://2130706433:{trap.port}/hook"):
            with pytest.raises(ForbiddenDestination, match="loopback"):
                client.post(url, content=b"{}")
    trap.close()
    assert trap.accepted == 0


@pytest.mark.parametrize("url", ["file:///etc/passwd", "http://user:pw@127.0.0.1/", "ftp://127.0.0.1/x"])
def test_safe_client_refuses_bad_urls(tmp_path: Path, url: str) -> None:
    with safe_client(settings(tmp_path)) as client, pytest.raises(httpx.TransportError):
        client.get(url)


def test_safe_client_reaches_allowed_hosts_and_does_not_follow_redirects(
        tmp_path: Path, server: MediaServer) -> None:
    server.add_bytes("/ok", b"hello")
    server.add_redirect("/moved", "http://10.0.0.1/")
    with safe_client(settings(tmp_path)) as client:
        assert client.get(server.url("/ok")).content == b"hello"
        assert client.get(server.url("/moved")).status_code == 302
    assert server.count() == 2


def test_hostname_is_kept_for_the_host_header(tmp_path: Path, server: MediaServer) -> None:
    server.add_bytes("/h", b"x")
    net = StubNet({"media.test": ["127.0.0.1"]})
    with safe_client(settings(tmp_path, fetch_allow_hosts=["media.test"]), **net.kwargs()) as client:
        assert client.get(f"http://media.test:{server.port}/h").status_code == 200
    assert net.attempts == [("127.0.0.1", server.port)]
    assert server.requests[0][1]["Host"] == f"media.test:{server.port}"
