"""What each diffusion adapter can honour, which weights folder serves a task, and what `GET /v1/models` shows.

AdapterCapabilities are declared once per adapter, here, so that routing (in the worker) and the model list (in the
API process) read the same facts without importing torch, diffusers or the adapters themselves: everything
below reads small JSON files in the weights folders and nothing else.

Routing: `REFVID_DIFFUSION_FOLDERS=model=folder[|folder…],…` lists candidate folders under
`REFVID_DIFFUSION_WEIGHTS` per model id (it replaces `DEFAULT_FOLDERS` for the models it names). For each task
the first folder that exists and whose adapter can honour every reference and `generate_audio` wins; when
folders exist but none can, the task fails at once with `no_capable_engine` and a message naming what no
engine here can do, instead of a reference being silently ignored. The siblings (text-to-video, image-to-video)
are routed the same way: an adapter declares the modes it serves (`AdapterCapabilities.modes`), and the sibling
models have the candidates of the reference model of their tier.
"""

from __future__ import annotations

import ast
import functools
import importlib.util
import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Literal

from refvid import catalog
from refvid.config import Settings
from refvid.contract import (
    MAX_DURATION_S,
    MIN_DURATION_S,
    MODES,
    MediaKind,
    Mode,
)

log = logging.getLogger(__name__)

CONFIG_FILE = "refvid.json"  # optional per-folder overrides (adapter, licence, grid, steps, …)
NO_CAPABLE_ENGINE = "no_capable_engine"  # task failure code: folders exist, none can honour the request
KINDS: tuple[MediaKind, ...] = ("image", "video", "audio")
AudioMode = Literal["generated", "soundtrack"]
MODE_NAMES: dict[Mode, str] = {"reference": "reference-to-video", "image": "image-to-video (first/last frame)",
                               "text": "text-to-video"}
H3_SIBLING_WORKFLOWS = ("t2va", "fl2va")  # MiniMax-H3's text and first/last-frame workflows (the `transformer`)


@dataclass(frozen=True)
class AdapterCapabilities:
    """What one adapter (on one folder) honours. `audio`: `generated` = sound from the same denoising loop;
    `soundtrack` = the reference audio, else a synthesized bed, laid under the video (no model audio)."""

    images: int
    videos: int
    audios: int
    total: int
    audio: AudioMode
    native_seconds: tuple[float, float]  # what the model generates; the engine trims/extends onto durations
    licence: str
    durations: tuple[int, int] = (MIN_DURATION_S, MAX_DURATION_S)
    resolutions: tuple[str, ...] = ("480p", "720p")
    notes: str = ""
    modes: tuple[Mode, ...] = ("reference",)  # what it serves: reference-, image- and/or text-to-video
    # The shortest clip it generates: shorter requests are trimmed, which would cut an end frame off, so an
    # image-to-video request with `end_image_url` needs at least this long a duration here.
    shortest_s: float = 0.0

    def limit(self, kind: MediaKind) -> int:
        return {"image": self.images, "video": self.videos, "audio": self.audios}[kind]

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["accepts"] = {kind: data.pop(f"{kind}s") for kind in KINDS} | {"total": data.pop("total")}
        return data


@dataclass(frozen=True)
class AdapterSpec:
    """An adapter module and the diffusers pipeline classes (in a folder's model index) it serves."""

    name: str
    module: str
    pipeline_classes: tuple[str, ...]
    capabilities: AdapterCapabilities


ADAPTERS: dict[str, AdapterSpec] = {
    "minimax_h3": AdapterSpec(
        "minimax_h3", "refvid.engines.diffusion.adapters.minimax_h3", ("MiniMaxH3ModularPipeline",),
        AdapterCapabilities(images=9, videos=3, audios=3, total=12, audio="generated", native_seconds=(5.17, 14.375),
                     licence="MiniMax H3 Community License", shortest_s=124 / 24,
                     notes="references in order images, videos, audios; a video's soundtrack is conditioned on; "
                           "text-/image-to-video through the t2va/fl2va workflows when the folder has their "
                           "`transformer` and the installed diffusers defines them")),
    "ltx2": AdapterSpec(
        "ltx2", "refvid.engines.diffusion.adapters.ltx2",
        ("LTX2Pipeline", "LTX2ImageToVideoPipeline", "LTX2ConditionPipeline", "LTX2InContextPipeline"),
        AdapterCapabilities(images=9, videos=1, audios=0, total=10, audio="generated", native_seconds=(1.0, 20.0),
                     licence="LTX-2 Community License", modes=MODES,
                     notes="images become keyframes in mention order; a reference video needs an IC-LoRA "
                           "(ic_lora/*.safetensors) in the folder")),
    "wan": AdapterSpec(
        "wan", "refvid.engines.diffusion.adapters.wan", ("WanVACEPipeline",),
        AdapterCapabilities(images=9, videos=3, audios=3, total=12, audio="soundtrack", native_seconds=(5.0, 5.0),
                     licence="Apache-2.0", modes=MODES,
                     notes="no model audio: reference audio (or a synthesized bed) is the soundtrack; longer clips "
                           "are extended window by window")),
}

# Built-in candidates per model id, strongest first; only folders that exist are considered. The siblings of a
# tier (image-, text-to-video) have the candidates of its reference model: routing skips the folders whose
# adapter does not serve the mode.
TIER_FOLDERS: dict[str, tuple[str, ...]] = {
    "fast": ("ltx2", "wan-vace-1.3b", "wan-vace"),
    "standard": ("minimax-h3", "wan-vace-14b", "ltx2", "wan-vace"),
}
DEFAULT_FOLDERS: dict[str, tuple[str, ...]] = {model.id: TIER_FOLDERS.get(model.tier, TIER_FOLDERS["fast"])
                                               for model in catalog.BUILT_IN}


def read_folder_config(folder: Path) -> dict[str, Any]:
    """The folder's `refvid.json` (empty when absent)."""
    path = folder / CONFIG_FILE
    if not path.is_file():
        return {}
    data = json.loads(path.read_text())
    return data if isinstance(data, dict) else {}


def pipeline_class(folder: Path) -> str:
    """The pipeline class a folder's (modular) model index names, '' when there is none."""
    for name in ("model_index.json", "modular_model_index.json"):
        path = folder / name
        if path.is_file():
            return str(json.loads(path.read_text()).get("_class_name", ""))
    return ""


def adapter_spec(folder: Path) -> AdapterSpec | None:
    """The adapter serving `folder`: `adapter` in refvid.json, else the one listing its pipeline class."""
    try:
        name = str(read_folder_config(folder).get("adapter", ""))
        if name:
            return ADAPTERS.get(name)
        cls = pipeline_class(folder)
    except (OSError, ValueError) as exc:
        log.warning("unreadable weights folder %s: %s", folder, exc)
        return None
    return next((spec for spec in ADAPTERS.values() if cls and cls in spec.pipeline_classes), None)


def ic_lora_file(folder: Path) -> Path | None:
    """LTX-2's in-context LoRA for reference videos: `ic_lora` in refvid.json, else ic_lora/*.safetensors."""
    named = read_folder_config(folder).get("ic_lora")
    if named:
        path = folder / str(named)
        return path if path.is_file() else None
    found = sorted((folder / "ic_lora").glob("*.safetensors"))
    return found[0] if found else None


@functools.cache
def h3_workflows() -> frozenset[str]:
    """The MiniMax-H3 workflows the installed diffusers defines (`MiniMaxH3Blocks._workflow_map`), read from its
    source without importing it: routing facts are read in the API process too, which must not import torch."""
    spec = importlib.util.find_spec("diffusers")  # a top-level lookup imports nothing
    if spec is None or not spec.submodule_search_locations:
        return frozenset()
    path = (Path(next(iter(spec.submodule_search_locations))) / "modular_pipelines" / "minimax_h3"
            / "modular_blocks_minimax_h3.py")
    try:
        tree = ast.parse(path.read_text())
    except (OSError, SyntaxError, ValueError):
        return frozenset()
    for node in ast.walk(tree):
        if (isinstance(node, ast.Assign) and isinstance(node.value, ast.Dict)
                and any(isinstance(t, ast.Name) and t.id == "_workflow_map" for t in node.targets)):
            keys = (k.value for k in node.value.keys if isinstance(k, ast.Constant))
            return frozenset(k for k in keys if isinstance(k, str))
    return frozenset()


def h3_serves_siblings(folder: Path) -> bool:
    """MiniMax-H3's t2va/fl2va run on the `transformer` partition (ref2va on `transformer_ref`): a folder holding
    only the ref2va half, or a diffusers without those workflows, serves reference-to-video only."""
    if not set(H3_SIBLING_WORKFLOWS) <= h3_workflows():
        return False
    index = folder / "modular_model_index.json"
    try:
        listed = "transformer" in json.loads(index.read_text()) if index.is_file() else False
    except (OSError, ValueError):
        listed = False
    return listed and (folder / "transformer").is_dir()


def folder_capabilities(spec: AdapterSpec, folder: Path) -> AdapterCapabilities:
    """The adapter's capabilities as this folder allows them (LTX-2 takes a video only with an IC-LoRA; H3
    serves text-/image-to-video only with their `transformer`; a folder may name its own licence, e.g. a
    fine-tune's)."""
    caps = spec.capabilities
    if spec.name == "ltx2" and ic_lora_file(folder) is None:
        caps = replace(caps, videos=0)
    if spec.name == "minimax_h3" and h3_serves_siblings(folder):
        caps = replace(caps, modes=MODES)
    licence = read_folder_config(folder).get("licence")
    return replace(caps, licence=str(licence)) if licence else caps


@dataclass(frozen=True)
class Needs:
    """What a task asks of an engine: its mode, references per kind (image-to-video frames are not counted as
    references), whether the output carries sound, and (image-to-video) whether it must end on a given frame."""

    counts: Mapping[str, int]
    generate_audio: bool
    mode: Mode = "reference"
    end_frame: bool = False
    duration_s: int = 0

    def shortfalls(self, caps: AdapterCapabilities) -> list[str]:
        """Human phrases for what `caps` cannot honour (empty: it can do everything asked)."""
        if self.mode not in caps.modes:
            return [MODE_NAMES[self.mode]]
        missing = []
        if self.end_frame and self.duration_s < caps.shortest_s:
            missing.append(f"an end frame in a {self.duration_s} s video (its shortest clip is "
                           f"{caps.shortest_s:.2f} s, trimmed to the duration)")
        for kind in KINDS:
            n, limit = self.counts.get(kind, 0), caps.limit(kind)
            if n > limit:
                missing.append(f"{n} {kind} reference{'s' * (n != 1)}" + (f" (takes at most {limit})" if limit
                                                                            else f" (takes no {kind} references)"))
        total = sum(self.counts.values())
        if total > caps.total:
            missing.append(f"{total} references in all (takes at most {caps.total})")
        return missing


def parse_folders(items: Iterable[str] | Mapping[str, str]) -> dict[str, tuple[str, ...]]:
    """`model=folder|folder` items (or a mapping of the same) → candidate folder tuples."""
    pairs = items.items() if isinstance(items, Mapping) else (i.split("=", 1) for i in items if "=" in i)
    return {key.strip(): tuple(f.strip() for f in value.split("|") if f.strip()) for key, value in pairs}


def folder_map(settings: Settings,
               folders: Iterable[str] | Mapping[str, str] | None = None) -> dict[str, tuple[str, ...]]:
    """Built-in candidates overlaid with REFVID_DIFFUSION_FOLDERS (or `folders`)."""
    configured = settings.diffusion_folders if folders is None else folders
    return {**DEFAULT_FOLDERS, **parse_folders(configured)}


def describe_models(settings: Settings) -> dict[str, dict[str, Any]]:
    """Per model id: the weights folders behind it (in routing order), each with its adapter, what it
    accepts, how it honours `generate_audio`, and its licence name, for `GET /v1/models`. Light: reads folder
    configs only. A folder that is missing or that no adapter serves is listed with `present`/`adapter` saying so."""
    weights = settings.diffusion_weights
    described: dict[str, dict[str, Any]] = {}
    for model, names in folder_map(settings).items():
        folders = []
        for name in names:
            folder = weights / name if weights else None
            entry: dict[str, Any] = {"folder": name, "present": bool(folder and folder.is_dir()), "adapter": None}
            spec = adapter_spec(folder) if folder is not None and entry["present"] else None
            if spec is not None and folder is not None:
                entry |= {"adapter": spec.name, **folder_capabilities(spec, folder).to_dict()}
            folders.append(entry)
        described[model] = {"engine": "diffusion", "folders": folders,
                            "adapters": sorted({f["adapter"] for f in folders if f["adapter"]})}
    return described
