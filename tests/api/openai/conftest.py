"""The official `openai` SDK (unmodified) pointed at the test app over ASGITransport, and reference media
served on loopback (the worker fetches them as it would any URL; the test settings allow 127.0.0.1)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from openai import AsyncOpenAI
from openai.resources.videos import AsyncVideos

from tests.support import media_factory as mf
from tests.support.apps import BASE
from tests.support.keys import API_KEY


@pytest.fixture
def videos(http: httpx.AsyncClient) -> AsyncVideos:
    """`AsyncOpenAI(base_url=f"{server}/v1", api_key=...).videos` as a user builds it; only its HTTP client is
    ours, so that it talks to the app in-process."""
    transport: Any = http  # the SDK types its own httpx2 client, and takes an httpx one as well
    return AsyncOpenAI(base_url=f"{BASE}/v1", api_key=API_KEY, http_client=transport, max_retries=0).videos


@pytest.fixture
def served(media_server: tuple[str, Path]) -> dict[str, str]:
    """URLs of a 4:3 reference image and a reference audio clip on the loopback media server."""
    base, folder = media_server
    mf.make_image(folder / "b.png", 400, 300, seed=4)
    mf.make_wav(folder / "a.wav", seconds=3.0)
    return {"image": f"{base}/b.png", "audio": f"{base}/a.wav"}
