"""Fixtures of the media-layer tests: a counting loopback media server and a connection trap."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest_media import MediaServer, PortTrap


@pytest.fixture
def server() -> Iterator[MediaServer]:
    srv = MediaServer().start()
    yield srv
    srv.stop()


@pytest.fixture
def trap() -> Iterator[PortTrap]:
    t = PortTrap()
    yield t
    t.close()
