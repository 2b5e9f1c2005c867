"""Issue 14: every spelling of a forbidden IP literal is judged as the address it means, at submit
(`destination_problem`) and at connect time (`reference_forbidden_host`, never the generic fetch failure)."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from refvid.errors import ReferenceFailure
from refvid.media.fetch import Fetcher
from refvid.net.guard import destination_problem, literal_address
from tests.support.media_servers import PortTrap, settings

LOOPBACK_FORMS = ["127.0.0.1", "127.0.0.1.", "127.1", "2130706433", "0x7f000001", "0x7f.1", "0177.0.0.1",
                  "[::1]", "[::ffff:127.0.0.1]", "[::ffff:7f00:1]"]


@pytest.mark.parametrize("host", LOOPBACK_FORMS)
def test_literal_forms_mean_loopback(host: str) -> None:
    address = literal_address(host)
    assert address is not None and (address.is_loopback or address == ipaddress.ip_address("::ffff:127.0.0.1"))


@pytest.mark.parametrize("host", ["example.com", "example.com.", "1.2.3.example", "0xzz", "", "."])
def test_names_are_not_literals(host: str) -> None:
    assert literal_address(host) is None


@pytest.mark.parametrize("host", LOOPBACK_FORMS)
def test_destination_problem_refuses_every_form_without_dns(tmp_path: Path, host: str) -> None:
    problem = destination_problem(settings(tmp_path, fetch_allow_hosts=[]), f"http://{host}:8080/hook")
    assert problem is not None  # "… a loopback address", or httpx's own refusal of the URL (`0177.0.0.1`)
    assert "loopback" in problem or "Invalid IPv4 address" in problem


def test_destination_problem_leaves_names_to_connect_time(tmp_path: Path) -> None:
    assert destination_problem(settings(tmp_path, fetch_allow_hosts=[]), "http://example.com./hook") is None


@pytest.mark.parametrize("host", ["127.0.0.1.", "127.1", "2130706433", "0x7f000001", "[::ffff:127.0.0.1]"])
def test_reference_fetch_of_a_literal_form_is_forbidden_host(tmp_path: Path, trap: PortTrap, host: str) -> None:
    fetcher = Fetcher(settings(tmp_path, fetch_allow_hosts=[]))
    with pytest.raises(ReferenceFailure) as failure:
        fetcher.fetch(f"http://{host}:{trap.port}/a.png", tmp_path / "a.png", label="image_urls[0]",
                      max_bytes=1024)
    assert failure.value.code == "reference_forbidden_host", failure.value.message
    assert failure.value.message.startswith("image_urls[0]: ")
    trap.close()
    assert trap.accepted == 0
