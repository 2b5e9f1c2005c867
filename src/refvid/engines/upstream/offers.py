"""What the pool file offers, for the composition root: which models go to the upstream engine, with which
resolutions, sound and acceptances (the API's 422 at submit), and their `GET /v1/models` description.
Light: it reads the pool file only (no HTTP clients, no media libraries)."""

from __future__ import annotations

from refvid import contract
from refvid.config import Settings
from refvid.engines.upstream.config import UpstreamConfig, load_upstreams
from refvid.engines.upstream.pool import acceptance


def upstreams_for(settings: Settings, model: str) -> list[UpstreamConfig]:
    """The pool's upstreams serving `model` in its mode, in file order."""
    mode = contract.mode_of(model)
    return [u for u in load_upstreams(settings.upstreams) if model in u.serves and mode in u.capabilities.modes]


def offer(settings: Settings, model: str) -> contract.ModelOffer | None:
    """The upstream engine's offer for `model`, or None when no upstream serves it."""
    serving = upstreams_for(settings, model)
    if not serving:
        return None
    resolutions = tuple(r for r in contract.RESOLUTIONS if any(r in u.capabilities.resolutions for u in serving))
    return contract.ModelOffer(
        model=model, engine="upstream", resolutions=contract.resolutions_for_model(model, resolutions),
        supports_audio=any(u.capabilities.audio for u in serving), details=describe(settings).get(model, {}),
        acceptances=tuple(acceptance(u) for u in serving))


def describe(settings: Settings) -> dict[str, dict[str, object]]:
    """model id → `{"upstreams": [...]}`: name, provider, served model, what it accepts (no key, no URL)."""
    described: dict[str, dict[str, object]] = {}
    for model in contract.MODELS:
        serving = upstreams_for(settings, model)
        if serving:
            described[model] = {"upstreams": [u.describe() for u in serving]}
    return described
