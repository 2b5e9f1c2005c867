"""engines/registry.py: capabilities stated once (the engine package's `CAPABILITIES`, carried by the class),
`model_offers` for the API without importing heavy engine modules, plugins through an entry-point group."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from refvid import catalog, contract
from refvid.config import Settings
from refvid.engines import registry
from refvid.engines.base import Capabilities
from refvid.engines.compositor import CAPABILITIES as COMPOSITOR


def settings(tmp_path: Path, **changes: Any) -> Settings:
    return Settings(data_dir=tmp_path, **changes)


def test_offers_follow_the_routes_and_the_standard_only_rule(tmp_path: Path) -> None:
    offers = registry.model_offers(settings(tmp_path))
    assert set(offers) == set(catalog.active())
    assert offers[contract.REFERENCE_MODEL] == contract.ModelOffer(
        contract.REFERENCE_MODEL, "compositor", contract.RESOLUTIONS, True,
        auto_duration_s=contract.DEFAULT_DURATION_S,  # the compositor's `duration: -1` without video or audio
        makes=COMPOSITOR.makes["reference"], task_types=contract.TASK_TYPES)  # it edits and extends videos
    assert offers[contract.TEXT_MODEL].placeholder and not offers[contract.IMAGE_MODEL].placeholder
    assert "title card" in offers[contract.TEXT_MODEL].makes  # what the engine makes of each mode, stated once
    assert offers[contract.FAST_REFERENCE_MODEL].resolutions == ("480p", "720p")  # 1080p: standard only

    routed = registry.model_offers(settings(tmp_path, routes=[f"{contract.REFERENCE_MODEL}=diffusion",
                                                              f"{contract.FAST_REFERENCE_MODEL}=nowhere"]))
    # a route to an unknown engine serves nothing (the siblings, not routed here, stay on the compositor)
    assert contract.FAST_REFERENCE_MODEL not in routed and contract.REFERENCE_MODEL in routed
    assert (routed[contract.REFERENCE_MODEL].engine, routed[contract.REFERENCE_MODEL].resolutions) == (
        "diffusion", ("480p", "720p"))
    assert routed[contract.REFERENCE_MODEL].task_types == ("auto", "reference")  # no edit/extend there


def test_offers_are_built_without_importing_engine_modules() -> None:
    code = ("import sys; from refvid.config import Settings; from refvid.engines.registry import model_offers; "
            "model_offers(Settings()); "
            "print(','.join(m for m in ('torch', 'cv2', 'av', 'refvid.engines.compositor.engine', "
            "'refvid.engines.diffusion.engine', 'refvid.engines.relay.engine') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == ""


@pytest.mark.parametrize("name", ["compositor", "relay"])
def test_the_engine_class_carries_its_package_capabilities(name: str) -> None:
    caps = registry.engines()[name]
    module_name, _, attr = caps.factory.partition(":")
    engine_class = getattr(__import__(module_name, fromlist=[attr]), attr)
    assert engine_class.capabilities is caps
    assert caps.name == name


def test_a_plugin_entry_point_adds_an_engine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    plugin = Capabilities("echo", "refvid.engines.compositor.engine:CompositorEngine", ("480p",), False)

    class Point:
        def load(self) -> Capabilities:
            return plugin

    def fake_entry_points(*, group: str) -> list[Point]:
        return [Point()] if group == registry.ENTRY_POINT_GROUP else []

    monkeypatch.setattr(registry, "entry_points", fake_entry_points)
    assert registry.engines()["echo"] is plugin
    offers = registry.model_offers(settings(tmp_path, routes=[f"{contract.REFERENCE_MODEL}=echo"]))
    assert offers[contract.REFERENCE_MODEL] == contract.ModelOffer(contract.REFERENCE_MODEL, "echo", ("480p",), False)


def test_unknown_engine_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(KeyError, match="unknown engine 'nope'"):
        registry.build_engine("nope", settings(tmp_path))
