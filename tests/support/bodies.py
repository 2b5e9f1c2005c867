"""Request bodies for the HTTP API."""

from __future__ import annotations

from typing import Any

MODEL = "seedance-2.0-fast-reference-to-video"


def create_body(callback_url: str | None = None, **changes: Any) -> dict[str, Any]:
    """A valid create request; its reference is never fetched by tests that run no worker."""
    body: dict[str, Any] = {"model": MODEL, "prompt": "@Image1 in the rain", "resolution": "480p",
                            "ratio": "16:9", "duration": 4, "image_urls": ["http://127.0.0.1:9/a.png"]}
    if callback_url is not None:
        body["callback_url"] = callback_url
    body.update(changes)
    return body
