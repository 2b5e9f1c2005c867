"""The API app as `refvid serve` composes it, minus the services that run beside it (workers, maintenance,
webhook deliveries): what the tests drive on `httpx.ASGITransport`."""

from __future__ import annotations

import functools

from fastapi import FastAPI

from refvid.api.app import create_app
from refvid.config import Settings
from refvid.engines.registry import model_offers
from refvid.engines.relay.upstream import left_queue
from refvid.runtime import Runtime

BASE = "http://refvid.test"  # the base URL the tests give the app on ASGITransport


def api_app(settings: Settings, runtime: Runtime) -> FastAPI:
    """The app with the models of the engine registry and the relay's upstream probe; no background."""
    return create_app(settings, runtime, model_offers(settings), upstream=functools.partial(left_queue, settings))
