"""A reference refused for its address says how to allow it (`REFVID_FETCH_ALLOW_HOSTS`), since a newcomer's
first reference is often a local test server; a refusal for any other reason (scheme) does not."""

from __future__ import annotations

from pathlib import Path

import pytest

from refvid.errors import ReferenceFailure
from refvid.media.fetch import Fetcher
from tests.support.media_servers import StubNet, settings


def refusal(fetcher: Fetcher, url: str, tmp_path: Path) -> ReferenceFailure:
    with pytest.raises(ReferenceFailure) as info:
        fetcher.fetch(url, tmp_path / "out.bin", label="image_urls[0]", max_bytes=2**20)
    return info.value


def test_a_private_address_names_the_allow_list_setting_and_the_host(tmp_path: Path) -> None:
    net = StubNet({"nas.example": ["192.168.1.20"]})  # a name on the office network; never connected
    error = refusal(Fetcher(settings(tmp_path, fetch_allow_hosts=[]), **net.kwargs()),
                    "http://nas.example/a.png", tmp_path)
    assert error.code == "reference_forbidden_host"
    assert "a private address" in error.message
    assert "REFVID_FETCH_ALLOW_HOSTS=nas.example" in error.message
    assert net.attempts == []


def test_a_refused_scheme_does_not_suggest_the_allow_list(tmp_path: Path) -> None:
    error = refusal(Fetcher(settings(tmp_path)), "ftp://example.com/a.png", tmp_path)
    assert error.code == "reference_forbidden_host"
    assert "REFVID_FETCH_ALLOW_HOSTS" not in error.message
