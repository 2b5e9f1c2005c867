"""The reference downloader: hostile URLs, redirects, limits, timeouts, data: URLs, the upload hook."""

from __future__ import annotations

import base64
import time
from pathlib import Path

import pytest

from refvid import contract
from refvid.errors import Cancelled, ReferenceFailure
from refvid.media.fetch import Fetcher, FetchResult
from tests.support.media_servers import MediaServer, PortTrap, StubNet, settings

MB = contract.MB  # the unit the limits are stated in (10**6 bytes)




def fetch(fetcher: Fetcher, url: str, dest: Path, max_bytes: int = MB) -> FetchResult:
    return fetcher.fetch(url, dest, label="image_urls[2]", max_bytes=max_bytes)


def failure(fetcher: Fetcher, url: str, tmp_path: Path, max_bytes: int = MB) -> ReferenceFailure:
    dest = tmp_path / "out.bin"
    with pytest.raises(ReferenceFailure) as info:
        fetch(fetcher, url, dest, max_bytes)
    assert not dest.exists()
    assert [p.name for p in tmp_path.glob(".*.part")] == []  # no temp file left behind
    return info.value


LOOPBACK_FORMS = ["127.0.0.1", "localhost", "0.0.0.0", "[::1]", "[::ffff:127.0.0.1]", "[::ffff:7f00:1]",
                  "2130706433", "0x7f.1", "017700000001", "127.1", "[::]"]


@pytest.mark.parametrize("host", LOOPBACK_FORMS)
@pytest.mark.parametrize("scheme", ["http", "https"])
def test_loopback_in_any_spelling_is_forbidden_and_never_connected(
        tmp_path: Path, trap: PortTrap, host: str, scheme: str) -> None:
    fetcher = Fetcher(settings(tmp_path, fetch_allow_hosts=[]))  # the real resolver and connector
    error = failure(fetcher, f"{scheme}://{host}:{trap.port}/a.png", tmp_path)
    assert error.code == "reference_forbidden_host"
    assert error.message.startswith("image_urls[2]: host ")
    assert "loopback" in error.message or "unspecified" in error.message
    trap.close()
    assert trap.accepted == 0


@pytest.mark.parametrize(("address", "reason"), [
    ("10.0.0.5", "a private address"), ("172.16.3.4", "a private address"),
    ("192.168.1.1", "a private address"),
    ("100.64.1.2", "a shared (carrier-grade NAT) address"), ("169.254.169.254", "a link-local address"),
    ("[fd00:ec2::254]", "a private address"), ("[fe80::1]", "a link-local address"),
    ("224.0.0.251", "a multicast address"), ("[64:ff9b::a00:5]", "a private address (embedded in"),
])
def test_private_ranges_are_refused_at_connect_time(tmp_path: Path, address: str, reason: str) -> None:
    net = StubNet()
    fetcher = Fetcher(settings(tmp_path), **net.kwargs())
    error = failure(fetcher, f"http://{address}/latest/meta-data/", tmp_path)
    assert error.code == "reference_forbidden_host"
    assert f"image_urls[2]: host {address.strip('[]')} resolves to" in error.message
    assert reason in error.message
    assert net.attempts == []  # refused before any connect


def test_message_names_field_index_and_address(tmp_path: Path) -> None:
    net = StubNet({"cdn.test": ["10.0.0.5"]})
    error = failure(Fetcher(settings(tmp_path), **net.kwargs()), "https://cdn.test/x.png", tmp_path)
    assert error.message.startswith("image_urls[2]: host cdn.test resolves to 10.0.0.5, a private address (")
    assert net.attempts == []


def test_hostname_resolving_to_loopback_is_forbidden(tmp_path: Path, trap: PortTrap) -> None:
    net = StubNet({"evil.test": ["127.0.0.1"]})
    fetcher = Fetcher(settings(tmp_path, fetch_allow_hosts=[]), **net.kwargs())
    error = failure(fetcher, f"http://evil.test:{trap.port}/", tmp_path)
    assert error.code == "reference_forbidden_host" and "127.0.0.1, a loopback address" in error.message
    assert net.attempts == []
    trap.close()
    assert trap.accepted == 0


def test_redirect_to_loopback_v6_is_forbidden(tmp_path: Path, server: MediaServer, trap: PortTrap) -> None:
    url = server.add_redirect("/r", f"http://[::1]:{trap.port}/secret")
    error = failure(Fetcher(settings(tmp_path)), url, tmp_path)
    assert error.code == "reference_forbidden_host" and "::1" in error.message
    assert server.count("/r") == 1
    trap.close()
    assert trap.accepted == 0


def test_redirect_to_private_name_is_forbidden(tmp_path: Path, server: MediaServer) -> None:
    net = StubNet({"intranet.test": ["10.1.2.3"]})
    url = server.add_redirect("/r", "http://intranet.test/admin")
    error = failure(Fetcher(settings(tmp_path), **net.kwargs()), url, tmp_path)
    assert error.message.startswith("image_urls[2]: host intranet.test resolves to 10.1.2.3, a private address")
    assert net.attempts == [("127.0.0.1", server.port)]


@pytest.mark.parametrize("location", ["file:///etc/passwd", "gopher://127.0.0.1:70/_x", "http://u:p@127.0.0.1/"])
def test_redirect_to_bad_scheme_or_userinfo_is_forbidden(
        tmp_path: Path, server: MediaServer, location: str) -> None:
    url = server.add_redirect("/r", location)
    assert failure(Fetcher(settings(tmp_path)), url, tmp_path).code == "reference_forbidden_host"
    assert server.count() == 1


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://127.0.0.1/x", "gopher://127.0.0.1:70/_x",
                                 "javascript:alert(1)", "//127.0.0.1/x", ""])
def test_only_http_and_https_schemes(tmp_path: Path, url: str) -> None:
    error = failure(Fetcher(settings(tmp_path)), url, tmp_path)
    assert error.code == "reference_forbidden_host" and error.message.startswith("image_urls[2]: scheme")


def test_userinfo_is_forbidden_without_a_request(tmp_path: Path, server: MediaServer) -> None:
    server.add_bytes("/a", b"x")
    url = f"http://user:pw@127.0.0.1:{server.port}/a"
    error = failure(Fetcher(settings(tmp_path)), url, tmp_path)
    assert error.code == "reference_forbidden_host" and "credentials" in error.message
    assert server.count() == 0


def test_redirects_are_followed_up_to_the_cap(tmp_path: Path, server: MediaServer) -> None:
    server.add_bytes("/end", b"payload")
    server.add_redirect("/r2", "/end", status=307)
    url = server.add_redirect("/r1", server.url("/r2"), status=301)
    result = fetch(Fetcher(settings(tmp_path, fetch_max_redirects=2)), url, tmp_path / "f")
    assert (tmp_path / "f").read_bytes() == b"payload"
    assert result.final_url == server.url("/end") and result.source == "http" and result.size_bytes == 7
    error = failure(Fetcher(settings(tmp_path, fetch_max_redirects=1)), url, tmp_path)
    assert error.code == "reference_fetch_failed" and error.message == "image_urls[2]: more than 1 redirects"


def test_redirect_loop_fails(tmp_path: Path, server: MediaServer) -> None:
    url = server.add_redirect("/loop", "/loop")
    error = failure(Fetcher(settings(tmp_path, fetch_max_redirects=3)), url, tmp_path)
    assert error.code == "reference_fetch_failed"
    assert server.count("/loop") == 4


def test_http_errors_dns_and_refused_connections_fail_to_fetch(tmp_path: Path, server: MediaServer) -> None:
    error = failure(Fetcher(settings(tmp_path)), server.add_status("/gone", 404), tmp_path)
    assert error.code == "reference_fetch_failed"
    assert error.message == "image_urls[2]: server answered HTTP 404"
    net = StubNet()
    error = failure(Fetcher(settings(tmp_path), **net.kwargs()), "http://nowhere.test/x", tmp_path)
    assert error.code == "reference_fetch_failed" and "cannot resolve nowhere.test" in error.message
    trap = PortTrap()
    port = trap.port
    trap.close()  # now nothing listens there
    error = failure(Fetcher(settings(tmp_path)), f"http://127.0.0.1:{port}/x", tmp_path)
    assert error.code == "reference_fetch_failed"


def test_slow_drip_hits_the_total_deadline(tmp_path: Path, server: MediaServer) -> None:
    url = server.add_drip("/drip", interval_s=0.1)
    started = time.monotonic()
    error = failure(Fetcher(settings(tmp_path, fetch_timeout_s=1.0)), url, tmp_path)
    assert error.code == "reference_fetch_failed" and "timed out (limit 1 s)" in error.message
    assert time.monotonic() - started < 2.5


def test_declared_size_over_the_cap_is_rejected_early(tmp_path: Path, server: MediaServer) -> None:
    url = server.add_bytes("/big", b"\0" * (MB + 1))
    error = failure(Fetcher(settings(tmp_path)), url, tmp_path)
    assert (error.code, error.message) == ("reference_too_large",
                                           "image_urls[2]: file is 1,000,001 bytes, over the 1 MB limit")


def test_undeclared_size_is_counted_while_streaming(tmp_path: Path, server: MediaServer) -> None:
    url = server.add_bytes("/big", b"\0" * (3 * MB), content_length=False)
    error = failure(Fetcher(settings(tmp_path)), url, tmp_path)
    assert error.code == "reference_too_large"
    assert error.message == "image_urls[2]: file exceeds the 1 MB limit"


def test_exact_cap_passes_and_keeps_host_header(tmp_path: Path, server: MediaServer) -> None:
    server.add_bytes("/exact", b"y" * MB, content_length=False)
    net = StubNet({"media.test": ["127.0.0.1"]})
    fetcher = Fetcher(settings(tmp_path, fetch_allow_hosts=["media.test"]), **net.kwargs())
    result = fetch(fetcher, f"http://media.test:{server.port}/exact", tmp_path / "ok")
    assert result.size_bytes == MB and (tmp_path / "ok").stat().st_size == MB
    assert server.requests[0][1]["Host"] == f"media.test:{server.port}"
    assert server.requests[0][1]["Accept-Encoding"] == "identity"


def test_cancellation_stops_a_download(tmp_path: Path, server: MediaServer) -> None:
    url = server.add_drip("/drip", interval_s=0.05)
    calls = iter([False, False, True])
    with pytest.raises(Cancelled):
        Fetcher(settings(tmp_path)).fetch(url, tmp_path / "c", label="x", max_bytes=MB,
                                          cancelled=lambda: next(calls, True))
    assert list(tmp_path.glob(".*")) == []


def test_data_urls(tmp_path: Path) -> None:
    fetcher = Fetcher(settings(tmp_path))
    payload = bytes(range(256)) * 10
    url = "data:image/png;base64," + base64.b64encode(payload).decode()
    result = fetch(fetcher, url, tmp_path / "d")
    assert (tmp_path / "d").read_bytes() == payload and result.source == "data" and result.size_bytes == 2560
    assert failure(fetcher, "data:text/plain,hello", tmp_path).code == "reference_invalid"
    assert failure(fetcher, "data:image/png;base64,@@@@", tmp_path).code == "reference_invalid"
    assert failure(fetcher, url, tmp_path, max_bytes=2559).code == "reference_too_large"
    huge = "data:image/png;base64," + "A" * (4 * MB)
    assert failure(fetcher, huge, tmp_path).message == "image_urls[2]: file exceeds the 1 MB limit"


def test_internal_urls_use_the_file_without_http(tmp_path: Path, server: MediaServer) -> None:
    upload = tmp_path / "upload.bin"
    upload.write_bytes(b"uploaded")
    own = server.url("/v1/files/file-abc/content")
    fetcher = Fetcher(settings(tmp_path, fetch_allow_hosts=[]), lambda url: upload if url == own else None)
    result = fetch(fetcher, own, tmp_path / "i")
    assert (tmp_path / "i").read_bytes() == b"uploaded" and result.source == "internal"
    assert server.count() == 0  # no request, although the URL is a (forbidden) loopback http URL
    assert failure(fetcher, server.url("/other"), tmp_path).code == "reference_forbidden_host"
    assert failure(fetcher, own, tmp_path, max_bytes=4).code == "reference_too_large"
    upload.unlink()
    assert failure(fetcher, own, tmp_path).code == "reference_fetch_failed"


@pytest.mark.parametrize("url", ["http://[::1", "http://xn--/", "http://ex\x00ample.com/", "http://\u2474.0.0.1/",
                                 "http://exa mple.test/"])
def test_malformed_urls_fail_cleanly(tmp_path: Path, url: str) -> None:
    net = StubNet()
    error = failure(Fetcher(settings(tmp_path), **net.kwargs()), url, tmp_path)
    assert error.code == "reference_fetch_failed" and error.message.startswith("image_urls[2]: ")
    assert net.attempts == []
