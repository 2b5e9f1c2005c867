"""Model id → engine routing, what each served model offers, and engine construction.

An engine states its capabilities once, as `CAPABILITIES` in its package's light `__init__.py` (a
`Capabilities`: name, factory path, resolutions, audio); the engine class carries the same object. The
registry imports only those light modules, so the composition root can describe the engines to the API
(`model_offers`) without importing torch or OpenCV; the factory is imported only in the worker's child.

Plugins declare a `Capabilities` object under the entry-point group `refvid.engines` of their
distribution. The registry reads the group on every call, so the parent (routing, `GET /v1/models`) and the
spawned child (`build_engine`) see the same engines without sharing any in-memory state.
"""

from __future__ import annotations

import importlib
from importlib.metadata import entry_points

from refvid import catalog, contract
from refvid.config import Settings
from refvid.engines.base import Capabilities, Engine
from refvid.engines.upstream import offers as upstream_offers

ENTRY_POINT_GROUP = "refvid.engines"
BUILT_IN = ("refvid.engines.compositor", "refvid.engines.diffusion", "refvid.engines.relay",
            "refvid.engines.upstream")


def engines() -> dict[str, Capabilities]:
    """name → capabilities: the built-in engines, then plugins (a plugin may replace a built-in)."""
    found = [importlib.import_module(module).CAPABILITIES for module in BUILT_IN]
    found += [point.load() for point in entry_points(group=ENTRY_POINT_GROUP)]
    return {caps.name: caps for caps in found if isinstance(caps, Capabilities)}


def route(settings: Settings, model: str) -> str:
    """The engine that serves `model`: REFVID_ROUTES, else the engine its catalog entry pins (REFVID_MODELS),
    else the upstream engine when the pool file (REFVID_UPSTREAMS) has an upstream serving it, else the relay
    when an Ark key is set, else the compositor."""
    overrides = settings.route_overrides()
    if model in overrides:
        return overrides[model]
    entry = catalog.active().get(model)
    if entry is not None and entry.engine:
        return entry.engine
    if settings.upstreams is not None and upstream_offers.upstreams_for(settings, model):
        return "upstream"
    if settings.ark_api_key:
        return "relay"
    return "compositor"


def model_offers(settings: Settings) -> dict[str, contract.ModelOffer]:
    """model id → what this deployment serves for it (engine, resolutions, audio): handed to the API, which
    validates requests and answers `GET /v1/models` from it. Models routed to an unknown engine, or to one that
    does not serve their mode (`Capabilities.modes`), are left out: the API refuses them with a 422 naming why."""
    known = engines()
    offers: dict[str, contract.ModelOffer] = {}
    described: dict[str, dict[str, dict[str, object]]] = {}
    for model, entry in catalog.active().items():
        engine = route(settings, model)
        mode = entry.mode
        if engine == "upstream":  # what the pool's upstreams accept, not what the engine could in general
            offer = upstream_offers.offer(settings, model)
            if offer is not None:
                offers[model] = offer
            continue
        caps = known.get(engine)
        if caps is not None and mode in caps.modes:
            if caps.describe and caps.name not in described:
                described[caps.name] = _call(caps.describe, settings)
            offers[model] = contract.ModelOffer(
                model=model, engine=caps.name,
                resolutions=tuple(r for r in caps.resolutions if r in entry.resolutions),
                max_duration_s=entry.max_duration,
                supports_audio=caps.supports_audio, auto_duration_s=caps.auto_duration_s,
                details=described.get(caps.name, {}).get(model, {}), makes=caps.makes.get(mode, ""),
                placeholder=mode in caps.placeholder_modes, task_types=caps.task_types)
    return offers


def _call(target: str, settings: Settings) -> dict[str, dict[str, object]]:
    """Call a light "module:function" hook of an engine package with the settings."""
    module_name, _, attr = target.partition(":")
    result: dict[str, dict[str, object]] = getattr(importlib.import_module(module_name), attr)(settings)
    return result


def worker_engines(settings: Settings) -> list[str]:
    """The engines a worker runs: REFVID_ENGINES, else every engine some model routes to."""
    if settings.engines:
        return list(settings.engines)
    return sorted({route(settings, model) for model in catalog.active()})


def build_engine(name: str, settings: Settings) -> Engine:
    """Import the engine's factory (heavy modules load here, in the process that runs it) and build it."""
    caps = engines().get(name)
    if caps is None:
        raise KeyError(f"unknown engine {name!r}; known: {', '.join(sorted(engines()))}")
    module_name, _, attr = caps.factory.partition(":")
    factory = getattr(importlib.import_module(module_name), attr)
    engine: Engine = factory(settings)
    return engine
