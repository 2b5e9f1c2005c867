"""refvid: a self-hosted, FoxAPI-compatible Seedance 2.0 reference-to-video server."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from refvid.version import __version__

__all__ = ["AsyncClient", "Client", "__version__"]

if TYPE_CHECKING:
    from refvid.client import AsyncClient, Client


def __getattr__(name: str) -> Any:
    # The client is imported lazily so that `import refvid` stays cheap for the server and the engines.
    if name in ("Client", "AsyncClient"):
        from refvid import client

        return getattr(client, name)
    raise AttributeError(name)
