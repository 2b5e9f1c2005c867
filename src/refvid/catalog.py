"""The model catalog as data: every model id this server knows and its limits (docs/models.md).

Each limit that differs between models (reference counts, durations, resolutions, ratios, output formats,
audio-only references, Ark ids) lives here, one `CatalogModel` per id; `refvid.contract` keeps the grammar
and the facts the same for every model. The built-in catalog is the Seedance 2.x line as it ships; an
operator file (`REFVID_MODELS`, a TOML list of `[[model]]` tables) adds, narrows or removes models without
code. The process's catalog is set once at start (`install`); a process that was not given one (a worker's
spawned child, an API process of `--api-workers`) reads `REFVID_MODELS` from its environment, which the CLI
sets from `--models`, so every process of a deployment sees the same catalog.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, fields, replace
from functools import cache
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from refvid.contract import (
    MAX_COUNT,
    MAX_DURATION_S,
    MAX_TOTAL_REFERENCES,
    MIN_DURATION_S,
    RATIOS,
    RESOLUTIONS,
    TASK_TYPES,
    MediaKind,
    Mode,
)

Tier = Literal["standard", "fast", "mini"]
ArkRegion = Literal["byteplus", "volcengine"]
OutputFormat = Literal["mp4", "mov"]
TaskType = Literal["auto", "reference", "edit", "extend"]
MODELS_ENV = "REFVID_MODELS"


@dataclass(frozen=True)
class CatalogModel:
    """One model id (the FoxAPI-dialect id) and everything a request to it must fit."""

    id: str
    mode: Mode
    tier: Tier
    max_images: int
    max_videos: int
    max_audios: int
    max_references: int
    audio_only: bool  # audio references alone (no image or video) are allowed
    min_duration: int
    max_duration: int
    auto_duration: bool  # `duration: -1` (the engine decides) is allowed
    resolutions: tuple[str, ...]
    ratios: tuple[str, ...]
    output_formats: tuple[OutputFormat, ...]
    draft: bool  # the model takes drafts (`draft: true`, 480p) and finals of them (api/drafts.py)
    ark_ids: tuple[str, ...]  # BytePlus `dreamina-…` and Volcengine `doubao-…` ids; one serves every mode
    engine: str | None = None  # the engine serving it, when the operator pins one (else the routing rules)
    task_types: tuple[TaskType, ...] = ("auto",)  # the `omni_reference_task_type` values it takes

    @property
    def foxapi_id(self) -> str:
        return self.id

    def max_count(self, kind: MediaKind) -> int:
        return {"image": self.max_images, "video": self.max_videos, "audio": self.max_audios}[kind]

    def limits(self) -> dict[str, object]:
        """The limits as `GET /v1/models` and docs/models.md show them."""
        return {"tier": self.tier, "max_images": self.max_images, "max_videos": self.max_videos,
                "max_audios": self.max_audios, "max_references": self.max_references,
                "audio_only": self.audio_only, "min_duration": self.min_duration,
                "max_duration": self.max_duration, "auto_duration": self.auto_duration,
                "ratios": list(self.ratios), "output_formats": list(self.output_formats), "draft": self.draft,
                "task_types": list(self.task_types), "ark_ids": list(self.ark_ids)}


ALL_RESOLUTIONS = RESOLUTIONS
LOW_RESOLUTIONS = ("480p", "720p")
_MODES: dict[Mode, str] = {"reference": "reference-to-video", "image": "image-to-video", "text": "text-to-video"}


def _line(prefix: str, tier: Tier, ark_ids: tuple[str, ...], **limits: Any) -> tuple[CatalogModel, ...]:
    """The three modes of one model line (Ark serves all three under one id)."""
    return tuple(CatalogModel(id=f"{prefix}-{name}", mode=mode, tier=tier, ark_ids=ark_ids, **limits)
                 for mode, name in _MODES.items())


_SEEDANCE_20: dict[str, Any] = dict(
    max_images=MAX_COUNT["image"], max_videos=MAX_COUNT["video"], max_audios=MAX_COUNT["audio"],
    max_references=MAX_TOTAL_REFERENCES, audio_only=False, min_duration=MIN_DURATION_S,
    max_duration=MAX_DURATION_S, auto_duration=True, ratios=RATIOS, output_formats=("mp4",), draft=False)
_SEEDANCE_25: dict[str, Any] = dict(
    max_images=30, max_videos=10, max_audios=10, max_references=50, audio_only=True, min_duration=4,
    max_duration=30, auto_duration=True, ratios=RATIOS, output_formats=("mp4", "mov"), draft=True,
    task_types=TASK_TYPES)
BUILT_IN: tuple[CatalogModel, ...] = (
    *_line("seedance-2.0", "standard", ("dreamina-seedance-2-0-260128", "doubao-seedance-2-0-260128"),
           resolutions=ALL_RESOLUTIONS, **_SEEDANCE_20),
    *_line("seedance-2.0-fast", "fast", ("dreamina-seedance-2-0-fast-260128", "doubao-seedance-2-0-fast-260128"),
           resolutions=LOW_RESOLUTIONS, **_SEEDANCE_20),
    *_line("seedance-2.0-mini", "mini", ("dreamina-seedance-2-0-mini-260615",),
           resolutions=LOW_RESOLUTIONS, **_SEEDANCE_20),
    *_line("seedance-2.5", "standard", ("dreamina-seedance-2-5-260628", "doubao-seedance-2-5-260628"),
           resolutions=ALL_RESOLUTIONS, **_SEEDANCE_25),
)


class Catalog(dict[str, CatalogModel]):
    """model id → its entry, in catalog order."""

    def mode_of(self, model: str) -> Mode:
        """What a model id takes; ids that are not in the catalog (a plugin's) are reference models."""
        known = self.get(model)
        return known.mode if known else "reference"

    def sibling(self, model: str, mode: Mode) -> str:
        """The id of the same line (same Ark ids, else the same tier) as `model` that takes `mode`."""
        own = self.get(model)
        if own is not None and own.mode == mode:
            return model
        same_line = [m for m in self.values() if own is not None and own.ark_ids and m.ark_ids == own.ark_ids]
        tier = own.tier if own is not None else "standard"
        same_tier = [m for m in BUILT_IN if m.tier == tier] + [m for m in self.values() if m.tier == tier]
        found = next((m.id for m in (*same_line, *same_tier) if m.mode == mode), None)
        return found or next(m.id for m in BUILT_IN if m.tier == "standard" and m.mode == mode)

    def ark_models(self) -> dict[str, str]:
        """An Ark model id → the reference-mode model of ours it means (every mode goes by `sibling`)."""
        table: dict[str, str] = {}
        for model in self.values():
            for ark_id in model.ark_ids:
                if model.mode == "reference" or ark_id not in table:
                    table[ark_id] = model.id
        return table

    def ark_id(self, model: str, region: ArkRegion) -> str | None:
        """The Ark id of a region that serves `model` (BytePlus ids start `dreamina-`, Volcengine's `doubao-`)."""
        entry = self.get(model)
        prefix = "doubao-" if region == "volcengine" else "dreamina-"
        return next((i for i in entry.ark_ids if i.startswith(prefix)), None) if entry else None


# ---------------------------------------------------------------------------------------------------------
# The operator file.

_Count = Annotated[int, Field(ge=0)]
_Seconds = Annotated[int, Field(ge=1)]


class ModelTable(BaseModel):
    """One `[[model]]` table: `id`, optional `base` (a built-in id it starts from) and any limit."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1)
    base: str | None = None
    enabled: bool = True
    mode: Mode | None = None
    tier: Tier | None = None
    min_duration: _Seconds | None = None
    max_duration: _Seconds | None = None
    auto_duration: bool | None = None
    max_images: _Count | None = None
    max_videos: _Count | None = None
    max_audios: _Count | None = None
    max_references: _Count | None = None
    audio_only: bool | None = None
    resolutions: tuple[Literal["480p", "720p", "1080p"], ...] | None = Field(None, min_length=1)
    ratios: tuple[Literal["16:9", "4:3", "1:1", "3:4", "9:16", "21:9"], ...] | None = Field(None, min_length=1)
    output_formats: tuple[OutputFormat, ...] | None = Field(None, min_length=1)
    draft: bool | None = None
    ark_ids: tuple[str, ...] | None = None
    engine: str | None = None
    task_types: tuple[TaskType, ...] | None = Field(None, min_length=1)


class ModelsFileError(ValueError):
    """A models file that cannot be used; the message names the file, the table and the key."""


_BY_ID = {model.id: model for model in BUILT_IN}
_LIMIT_KEYS = tuple(f.name for f in fields(CatalogModel) if f.name != "id")


def _merged(table: ModelTable, known: dict[str, CatalogModel], where: str) -> CatalogModel:
    given = {key: getattr(table, key) for key in _LIMIT_KEYS if getattr(table, key) is not None}
    start_id = table.base or (table.id if table.id in known else None)
    if table.base is not None and table.base not in _BY_ID:
        raise ModelsFileError(f"{where}, key 'base': {table.base!r} is not a built-in model id; "
                              f"built-in: {', '.join(_BY_ID)}")
    if start_id is None:
        missing = [key for key in _LIMIT_KEYS if key not in given and key not in ("engine", "ark_ids", "task_types")]
        if missing:
            raise ModelsFileError(f"{where}, key {missing[0]!r}: required for a new model without 'base' "
                                  f"(also missing: {', '.join(missing[1:]) or 'nothing else'})")
        model = CatalogModel(id=table.id, ark_ids=given.pop("ark_ids", ()), **given)
    else:
        start = _BY_ID[start_id] if table.base else known[start_id]
        model = replace(start, **{"id": table.id, **({"ark_ids": ()} if table.base else {}), **given})
    if model.min_duration > model.max_duration:
        raise ModelsFileError(f"{where}, key 'min_duration': {model.min_duration} is above max_duration "
                              f"{model.max_duration}")
    return model


def parse(path: Path) -> Catalog:
    """The built-in catalog changed by the operator file at `path`; ModelsFileError names file, table, key."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ModelsFileError(f"models file {path}: cannot be read ({exc})") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ModelsFileError(f"models file {path}: not valid TOML ({exc})") from exc
    unknown = sorted(set(data) - {"model"})
    if unknown:
        raise ModelsFileError(f"models file {path}: key {unknown[0]!r} is not allowed at the top level; "
                              "write [[model]] tables")
    tables = data.get("model", [])
    if not isinstance(tables, list):
        raise ModelsFileError(f"models file {path}, key 'model': must be a list of [[model]] tables")
    models: dict[str, CatalogModel] = dict(_BY_ID)
    for number, raw in enumerate(tables, start=1):
        label = raw.get("id") if isinstance(raw, dict) else None
        where = f"models file {path}, [[model]] table {number}" + (f" (id {label!r})" if label else "")
        try:
            table = ModelTable.model_validate(raw)
        except ValidationError as exc:
            error = exc.errors()[0]
            key = ".".join(str(part) for part in error["loc"]) or "?"
            raise ModelsFileError(f"{where}, key {key!r}: {error['msg']}") from exc
        if not table.enabled:
            if table.id not in models:
                raise ModelsFileError(f"{where}, key 'enabled': {table.id!r} is not a model id to remove")
            del models[table.id]
            continue
        models[table.id] = _merged(table, models, where)
    return Catalog(models)


@cache
def load(path: Path | None) -> Catalog:
    """The catalog for an operator file (None: the built-in one), read once per process."""
    return Catalog(_BY_ID) if path is None else parse(path)


_installed: list[Catalog] = []


def install(catalog: Catalog) -> None:
    """Make `catalog` this process's catalog (the composition root, at start)."""
    _installed[:] = [catalog]


def active() -> Catalog:
    """This process's catalog: the installed one, else `REFVID_MODELS`'s, else the built-in one."""
    if not _installed:  # read once per process (an --api-workers process, a spawned child, a test)
        env = os.environ.get(MODELS_ENV)
        install(load(Path(env) if env else None))
    return _installed[0]
