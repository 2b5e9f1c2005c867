"""Cross-field rules of spec §3, checked at submit (422). Byte-level checks happen when the task runs."""

from __future__ import annotations

import re

from refvid.api.schemas import CreateVideoRequest
from refvid.engines.registry import EngineInfo, resolutions_for
from refvid.errors import ValidationFailed

LIMITS = {"image": 9, "video": 3, "audio": 3}
MAX_REFERENCES = 12
_MENTION = re.compile(r"@(image|video|audio|图像|图片|视频|音频)\s*(\d+)", re.IGNORECASE)
_KIND = {"image": "image", "图像": "image", "图片": "image", "video": "video", "视频": "video",
         "audio": "audio", "音频": "audio"}


def mentions(prompt: str) -> list[tuple[str, int, str]]:
    """(kind, 1-based index, the text as written) for every @ImageN/@VideoN/@AudioN (and Chinese forms)."""
    return [(_KIND[m.group(1).lower()], int(m.group(2)), m.group(0)) for m in _MENTION.finditer(prompt)]


def validate_create(req: CreateVideoRequest, served: dict[str, EngineInfo]) -> None:
    """Raise ValidationFailed (code, param, message) for the first broken rule."""
    engine = served.get(req.model)
    if engine is None:
        known = ", ".join(sorted(served)) or "none"
        raise ValidationFailed(f"model {req.model!r} is not served here; available: {known}",
                               code="invalid_model", param="model")
    if req.prompt is None:
        raise ValidationFailed("prompt is required for reference-to-video models",
                               code="missing_required_parameter", param="prompt")
    allowed = resolutions_for(req.model, engine)
    if req.resolution not in allowed:
        raise ValidationFailed(f"resolution {req.resolution} is not available for {req.model}; "
                               f"use one of {', '.join(allowed)}", code="invalid_resolution", param="resolution")
    if req.ratio and req.aspect_ratio and req.ratio != req.aspect_ratio:
        raise ValidationFailed(f"ratio {req.ratio!r} and aspect_ratio {req.aspect_ratio!r} disagree; send one",
                               code="invalid_ratio", param="aspect_ratio")
    counts = {"image": len(req.image_urls), "video": len(req.video_urls), "audio": len(req.audio_urls)}
    for kind, limit in LIMITS.items():
        if counts[kind] > limit:
            raise ValidationFailed(f"{kind}_urls has {counts[kind]} entries; at most {limit} are allowed",
                                   code="too_many_references", param=f"{kind}_urls")
    if sum(counts.values()) > MAX_REFERENCES:
        raise ValidationFailed(f"{sum(counts.values())} references in total; at most {MAX_REFERENCES} are allowed",
                               code="too_many_references", param="image_urls")
    if counts["image"] == 0 and counts["video"] == 0:
        if counts["audio"]:
            raise ValidationFailed("audio references alone are not allowed; add at least one image or video",
                                   code="missing_visual_reference", param="audio_urls")
        raise ValidationFailed("reference-to-video needs at least one image or video in image_urls/video_urls",
                               code="missing_visual_reference", param="image_urls")
    if not engine.supports_audio and req.generate_audio:
        raise ValidationFailed(f"{req.model} cannot generate audio here; send generate_audio: false",
                               code="invalid_generate_audio", param="generate_audio")
    for kind, index, text in mentions(req.prompt):
        if not 1 <= index <= counts[kind]:
            have = counts[kind]
            raise ValidationFailed(
                f"prompt mentions {text} but {kind}_urls has {have} entr{'y' if have == 1 else 'ies'}",
                code="invalid_reference_mention", param="prompt")
