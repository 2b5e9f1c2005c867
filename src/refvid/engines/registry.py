"""Model id → engine routing, and engine construction.

Built-in engines are registered exactly as a plugin would be: a name and the import path of a factory
taking `Settings`. Engines are only imported in the process that runs them (the worker's child), so the
API never imports torch.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from refvid.config import Settings
from refvid.engines.base import Engine

MODELS = ("seedance-2.0-reference-to-video", "seedance-2.0-fast-reference-to-video")
STANDARD_MODELS = frozenset({"seedance-2.0-reference-to-video"})


@dataclass(frozen=True)
class EngineInfo:
    name: str
    factory: str  # "module:callable"
    resolutions: tuple[str, ...]
    supports_audio: bool


ENGINES: dict[str, EngineInfo] = {
    "compositor": EngineInfo("compositor", "refvid.engines.compositor:CompositorEngine",
                             ("480p", "720p", "1080p"), True),
    "diffusion": EngineInfo("diffusion", "refvid.engines.diffusion:DiffusionEngine", ("480p", "720p"), True),
    "relay": EngineInfo("relay", "refvid.engines.relay:RelayEngine", ("480p", "720p", "1080p"), True),
}


def register_engine(info: EngineInfo) -> None:
    """Add or replace an engine (plugins, tests)."""
    ENGINES[info.name] = info


def route(settings: Settings, model: str) -> str:
    """The engine that serves `model`: REFVID_ROUTES, else the relay when an Ark key is set, else the
    compositor."""
    overrides = settings.route_overrides()
    if model in overrides:
        return overrides[model]
    if settings.ark_api_key:
        return "relay"
    return "compositor"


def served_models(settings: Settings) -> dict[str, EngineInfo]:
    """model id → engine info, for the models this deployment serves."""
    return {model: ENGINES[route(settings, model)] for model in MODELS if route(settings, model) in ENGINES}


def resolutions_for(model: str, engine: EngineInfo) -> tuple[str, ...]:
    """1080p only on standard models and only where the engine supports it (spec §3)."""
    return tuple(r for r in engine.resolutions if r != "1080p" or model in STANDARD_MODELS)


def worker_engines(settings: Settings) -> list[str]:
    """The engines a worker runs: REFVID_ENGINES, else every engine some model routes to."""
    if settings.engines:
        return list(settings.engines)
    return sorted({route(settings, model) for model in MODELS})


def build_engine(name: str, settings: Settings) -> Engine:
    info = ENGINES[name]
    module_name, _, attr = info.factory.partition(":")
    factory = getattr(importlib.import_module(module_name), attr)
    engine: Engine = factory(settings)
    return engine
