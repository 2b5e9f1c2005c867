"""`GET /v1/models` tells, per model, what is behind it: for the diffusion engine the weights folders in routing
order, the adapter of each, what it accepts and its licence (from the engine's light `describe` hook)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx

from refvid.config import Settings
from refvid.runtime import Runtime
from tests.support.apps import api_app
from tests.support.keys import API_KEY

STANDARD = "seedance-2.0-reference-to-video"


async def test_models_show_the_adapters_and_licences_behind_a_diffusion_model(tmp_path: Path,
                                                                              runtime: Runtime) -> None:
    weights = tmp_path / "weights"
    for name, adapter in (("h3", "minimax_h3"), ("ltx", "ltx2")):
        (weights / name).mkdir(parents=True)
        (weights / name / "refvid.json").write_text(json.dumps({"adapter": adapter}))
    settings: Settings = runtime.settings.model_copy(update={
        "routes": [f"{STANDARD}=diffusion"], "diffusion_weights": weights,
        "diffusion_folders": [f"{STANDARD}=h3|ltx|missing"]})
    app = api_app(settings, Runtime(settings, runtime.store, runtime.blobs, runtime.waker, runtime.signing_secret))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://refvid.test",
                                 headers={"Authorization": f"Bearer {API_KEY}"}) as api:
        models = {m["id"]: m for m in (await api.get("/v1/models")).json()["data"]}
    standard: dict[str, Any] = models[STANDARD]
    assert standard["engine"] == "diffusion"
    folders = standard["details"]["folders"]
    assert [f["folder"] for f in folders] == ["h3", "ltx", "missing"]  # routing order
    assert [f["adapter"] for f in folders] == ["minimax_h3", "ltx2", None]
    assert folders[2]["present"] is False
    assert all(f.get("licence") for f in folders[:2])
    assert standard["details"]["adapters"] == ["ltx2", "minimax_h3"]
    assert models["seedance-2.0-fast-reference-to-video"]["details"] is None  # the compositor has none
