"""The official Ark SDK (`volcengine-ark-runtime`, unmodified) pointed at the test app over ASGITransport
(the `http` client of tests/api/conftest.py), and the small references the Ark tests send as base64 data:
URLs, as Ark clients do."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from volcenginesdkarkruntime import AsyncArk

from tests.support import media_factory as mf
from tests.support.apps import BASE
from tests.support.keys import API_KEY


@pytest.fixture
async def ark(http: httpx.AsyncClient) -> AsyncIterator[AsyncArk]:
    """`AsyncArk(base_url=f"{server}/api/v3", api_key=...)` exactly as a user builds it; only its HTTP
    client is ours, so that it talks to the app in-process."""
    client = AsyncArk(base_url=f"{BASE}/api/v3", api_key=API_KEY, http_client=http, max_retries=0)
    yield client


def data_url(path: Path, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(path.read_bytes()).decode('ascii')}"


@pytest.fixture
def references(tmp_path: Path) -> dict[str, str]:
    """Two reference images (PNG, 4:3 and 3:4) and a reference audio clip (WAV) as data: URLs."""
    return {"image1": data_url(mf.make_image(tmp_path / "a.png", 400, 300, seed=3), "image/png"),
            "image2": data_url(mf.make_image(tmp_path / "b.png", 300, 400, seed=4), "image/png"),
            "audio": data_url(mf.make_wav(tmp_path / "a.wav", seconds=3.0), "audio/wav")}
