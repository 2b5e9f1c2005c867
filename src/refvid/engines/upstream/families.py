"""Capability presets of the model families an upstream may serve (`family = "minimax-h3"` in the pool file):
what a served model accepts, so that routing sends a task only where it can be honoured and the API refuses at
submit (422, naming what is missing) what no configured upstream can do. An operator overrides any key per
upstream in its `[upstream.accepts]` table.

The numbers are the served models' own (`docs/upstreams.md`): MiniMax-H3 Ref2VA takes ≤ 9 images, ≤ 3 videos,
≤ 3 audios, 12 in all, 4–15 s, with joint stereo audio; Wan 2.x is text/image-to-video without sound; LTX-2
makes joint audio and video with images as frame conditions; Seedance (Ark) takes each served model's own
catalog entry (`for_model`: Seedance 2.0 9/3/3 and 4–15 s, 2.5 30/10/10 and 4–30 s), since Ark serves the
whole line as the catalog states it.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any

from refvid import catalog
from refvid.catalog import CatalogModel
from refvid.contract import MAX_DURATION_S, MIN_DURATION_S, MODES, RESOLUTIONS, Mode
from refvid.engines.mention_labels import LabelStyle


@dataclass(frozen=True)
class Family:
    """What one served model accepts. `labels`: how `@ImageN` mentions are rewritten for it."""

    name: str
    modes: tuple[Mode, ...]
    max_images: int
    max_videos: int
    max_audios: int
    max_references: int
    min_duration_s: int = MIN_DURATION_S
    max_duration_s: int = MAX_DURATION_S
    resolutions: tuple[str, ...] = RESOLUTIONS
    audio: bool = False
    labels: LabelStyle = "plain"
    from_catalog: bool = False  # the served model's own limits are its catalog entry's (Seedance on Ark)

    def max_of(self, kind: str) -> int:
        return int(getattr(self, f"max_{kind}s"))

    def for_model(self, entry: CatalogModel | None) -> Family:
        """The limits this family honours for one served model: a catalog family's are the model's entry
        (references per kind and in all, durations, resolutions); the other presets are the same for every
        model they serve."""
        if not self.from_catalog or entry is None:
            return self
        return replace(self, max_images=entry.max_images, max_videos=entry.max_videos, max_audios=entry.max_audios,
                       max_references=entry.max_references, min_duration_s=entry.min_duration,
                       max_duration_s=entry.max_duration, resolutions=entry.resolutions)

    def with_overrides(self, overrides: dict[str, Any]) -> Family:
        """This preset with the operator's `[upstream.accepts]` keys; an unknown key is a clear error."""
        known = {f.name for f in fields(self)} - {"name", "from_catalog"}
        unknown = set(overrides) - known
        if unknown:
            raise ValueError(f"unknown accepts key(s) {', '.join(sorted(unknown))}; known: {', '.join(sorted(known))}")
        values: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in overrides.items()}
        return replace(self, **values)

    def describe(self) -> dict[str, object]:
        """For `GET /v1/models`."""
        return {"family": self.name, "modes": list(self.modes), "max_images": self.max_images,
                "max_videos": self.max_videos, "max_audios": self.max_audios,
                "max_references": self.max_references, "durations_s": [self.min_duration_s, self.max_duration_s],
                "resolutions": list(self.resolutions), "audio": self.audio}


# Seedance (Ark) takes what the served model's catalog entry says, which validation checks before any upstream's
# acceptance: the family's preset is the line's widest model (2.5), so it never narrows a model of the line.
_WIDEST = max(catalog.BUILT_IN, key=lambda m: (m.max_references, m.max_duration))
FAMILIES: dict[str, Family] = {family.name: family for family in (
    Family("minimax-h3", MODES, 9, 3, 3, 12, resolutions=("480p", "720p"), audio=True, labels="h3"),
    Family("wan", ("text", "image", "reference"), 1, 0, 0, 1, max_duration_s=10),
    Family("ltx2", ("text", "image"), 2, 0, 0, 2, max_duration_s=15, audio=True),
    Family("seedance", MODES, _WIDEST.max_images, _WIDEST.max_videos, _WIDEST.max_audios, _WIDEST.max_references,
           _WIDEST.min_duration, _WIDEST.max_duration, audio=True, from_catalog=True),
)}


def family_named(name: str, overrides: dict[str, Any] | None = None) -> Family:
    if name not in FAMILIES:
        raise ValueError(f"unknown family {name!r}; known: {', '.join(FAMILIES)}")
    return FAMILIES[name].with_overrides(overrides or {})
