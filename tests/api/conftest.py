"""Fixtures of the dialect tests (tests/api/ark, tests/api/openai): a plain HTTP client on the app, for the
calls an official SDK does not make (downloads, the other dialects' routes)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from refvid.config import Settings
from refvid.runtime import Runtime
from tests.support.apps import BASE, api_app


@pytest.fixture
async def http(settings: Settings, runtime: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    """A plain HTTP client on the app, with no Authorization header (downloads, FoxAPI calls add theirs)."""
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=api_app(settings, runtime)),
                                 base_url=BASE) as client:
        yield client
