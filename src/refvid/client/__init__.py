"""The Python client for refvid (and any FoxAPI-compatible server): `Client`, `AsyncClient`, their errors,
and the `refvid generate` / `refvid tasks` commands. Imports only the contract and the wire schemas."""

from refvid.client.clients import DEFAULT_BASE_URL, DEFAULT_MODEL, AsyncClient, Client, poll_delay

__all__ = ["DEFAULT_BASE_URL", "DEFAULT_MODEL", "AsyncClient", "Client", "poll_delay"]
