"""Cross-field rules of spec §3, checked at submit (422), and the one place a request becomes a `TaskSpec`.

Each model's limits and mode are its `refvid.catalog` entry's and the `@`-mention grammar is
`refvid.contract`'s, the same ones the engines read, so a prompt is accepted exactly when every mention in it
names a reference the engine will see. What each model offers here (engine, resolutions, audio) comes in
as `ModelOffer`s from the composition root.
Every dialect (FoxAPI's `/v1`, Ark's `/api/v3`, OpenAI's `/v1/videos`) checks with `validate_create` (the
others through `validate_fields`) and builds with `build_task_spec`, so a rule and the spec's shape are stated
once.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from refvid import catalog
from refvid.api.drafts import final_request
from refvid.api.errors import error_param
from refvid.api.inline_media import check_inline_sizes
from refvid.api.schemas import CreateVideoRequest
from refvid.catalog import CatalogModel
from refvid.contract import (
    ADAPTIVE,
    AUTO_DURATION,
    FRAME_FIELDS,
    MODE_INPUTS,
    REFERENCE_MODEL,
    URL_FIELDS,
    VIDEO_TASK_TYPES,
    MediaKind,
    Mode,
    ModelOffer,
    find_mentions,
)
from refvid.errors import ValidationFailed
from refvid.tasks.model import Task, TaskSpec

MODE_NAMES: dict[Mode, str] = {"reference": "reference-to-video", "image": "image-to-video",
                               "text": "text-to-video"}


def validate_create(req: CreateVideoRequest, served: dict[str, ModelOffer]) -> ModelOffer:
    """The offer serving the request; raise ValidationFailed (code, param, message) for the first broken rule."""
    models = catalog.active()
    offer = served.get(req.model)
    if offer is None:
        known = ", ".join(sorted(served)) or "none"
        why = (f"its engine here does not serve {MODE_NAMES[models.mode_of(req.model)]} yet"
               if req.model in models else "it is not a model id of this API")
        raise ValidationFailed(f"model {req.model!r} is not served here ({why}); available: {known}",
                               code="invalid_model", param="model")
    entry = models.get(req.model) or models_default()
    mode = entry.mode
    if req.draft and not entry.draft:
        drafts = ", ".join(m.id for m in models.values() if m.draft and m.id in served) or "none"
        raise ValidationFailed(f"{req.model} offers no drafts; models with drafts here: {drafts}",
                               code="invalid_draft", param="draft")
    _check_mode_inputs(req, mode)
    _check_duration(req, entry)
    if req.resolution not in offer.resolutions:
        raise ValidationFailed(f"resolution {req.resolution} is not available for {req.model}; "
                               f"use one of {', '.join(offer.resolutions)}", code="invalid_resolution",
                               param="resolution")
    if req.ratio and req.aspect_ratio and req.ratio != req.aspect_ratio:
        raise ValidationFailed(f"ratio {req.ratio!r} and aspect_ratio {req.aspect_ratio!r} disagree; send one",
                               code="invalid_ratio", param="aspect_ratio")
    if req.effective_ratio not in (*entry.ratios, ADAPTIVE):
        param = "ratio" if req.ratio else "aspect_ratio"
        raise ValidationFailed(f"{param} {req.effective_ratio} is not available for {req.model}; use one of "
                               f"{', '.join(entry.ratios)} or {ADAPTIVE}", code="invalid_ratio", param=param)
    counts: dict[MediaKind, int] = {"image": len(req.image_urls), "video": len(req.video_urls),
                                    "audio": len(req.audio_urls)}
    if mode == "reference":
        _check_reference_counts(counts, entry)
    if not offer.supports_audio and req.generate_audio:
        raise ValidationFailed(f"{req.model} cannot generate audio here; send generate_audio: false",
                               code="invalid_generate_audio", param="generate_audio")
    _check_acceptances(req, offer, counts)
    _check_output_format(req, entry)
    _check_task_type(req, entry, offer)
    for mention in find_mentions(req.prompt):
        have = counts[mention.kind]
        if not 0 <= mention.index < have:
            raise ValidationFailed(
                f"prompt mentions {mention.text[:40]} but {URL_FIELDS[mention.kind]} has {have} "
                f"entr{'y' if have == 1 else 'ies'}", code="invalid_reference_mention", param="prompt")
    return offer


def validate_fields(fields: dict[str, Any], served: dict[str, ModelOffer],
                    draft: Task | None = None) -> tuple[CreateVideoRequest, ModelOffer]:
    """Another dialect's request restated as FoxAPI fields, checked by every FoxAPI rule: the request and the
    offer serving it, or ValidationFailed for the first broken rule (a field rule's code is pydantic's error
    type: `missing`, `extra_forbidden`, or ours: `invalid_duration`), naming the FoxAPI field. A final
    (`draft_task_id`) is its `draft`'s request at its own resolution (`api/drafts.py`)."""
    try:
        req = CreateVideoRequest.model_validate(fields)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise ValidationFailed(str(first["msg"]), code=first["type"], param=error_param(first)) from exc
    if draft is not None:
        req = final_request(req, draft, served)
    offer = validate_create(req, served)
    check_inline_sizes(req)  # a data: URL over its limit is refused before anything is stored
    return req, offer


def build_task_spec(req: CreateVideoRequest, dialect: str = "foxapi",
                    dialect_options: tuple[tuple[str, str | int | bool], ...] = ()) -> TaskSpec:
    """The task a validated request asks for, in whichever dialect it came."""
    return TaskSpec(
        model=req.model, prompt=req.prompt or "", resolution=req.resolution, ratio=req.effective_ratio,
        duration=req.duration, generate_audio=req.generate_audio, seed=req.seed,
        image_urls=tuple(req.image_urls), video_urls=tuple(req.video_urls), audio_urls=tuple(req.audio_urls),
        image_url=req.image_url, end_image_url=req.end_image_url, callback_url=req.callback_url,
        dialect=dialect, dialect_options=dialect_options, draft=req.draft, draft_task_id=req.draft_task_id,
        service_tier=req.service_tier, priority=req.priority,
        execution_expires_after=req.execution_expires_after,
        output_format=req.output_format or "mp4",
        omni_reference_task_type=req.omni_reference_task_type or "auto",
    )


def _check_mode_inputs(req: CreateVideoRequest, mode: Mode) -> None:
    """The model's required inputs are present; inputs of the other modes are refused, naming the field."""
    inputs = MODE_INPUTS[mode]
    sent = {"prompt": req.prompt is not None, "image_url": req.image_url is not None,
            "end_image_url": req.end_image_url is not None,
            **{field: bool(getattr(req, field)) for field in URL_FIELDS.values()}}
    for field in inputs["required"]:
        if not sent[field]:
            raise ValidationFailed(f"{field} is required for {MODE_NAMES[mode]} models",
                                   code="missing_required_parameter", param=field)
    for field in (*URL_FIELDS.values(), *FRAME_FIELDS):
        if sent[field] and field not in inputs["required"] + inputs["optional"]:
            takers = [MODE_NAMES[m] for m, i in MODE_INPUTS.items() if field in i["required"] + i["optional"]]
            raise ValidationFailed(f"{field} is not accepted by {MODE_NAMES[mode]} model {req.model}; it belongs "
                                   f"to {' and '.join(takers)} models", code="unsupported_parameter", param=field)


def _check_output_format(req: CreateVideoRequest, entry: CatalogModel) -> None:
    """The container asked for is one the model offers (every engine delivers both: `docs/models.md`)."""
    if req.output_format is not None and req.output_format not in entry.output_formats:
        raise ValidationFailed(f"output_format {req.output_format} is not available for {entry.id}; it makes "
                               f"{', '.join(entry.output_formats)}", code="invalid_output_format",
                               param="output_format")


def _check_task_type(req: CreateVideoRequest, entry: CatalogModel, offer: ModelOffer) -> None:
    """`omni_reference_task_type`: one the model takes (its catalog entry) and the serving engine can do (its
    offer); edit and extend need a video reference, ratio `adaptive`, and edit `duration: -1` (Ark's rules)."""
    kind = req.omni_reference_task_type
    if kind is None or kind == "auto":
        return
    param = "omni_reference_task_type"
    if kind not in entry.task_types:
        raise ValidationFailed(f"{param} {kind} is not available for {entry.id}; it takes "
                               f"{', '.join(entry.task_types)}", code="invalid_omni_reference_task_type",
                               param=param)
    if kind not in offer.task_types:
        raise ValidationFailed(f"{param} {kind} cannot be served here: {entry.id} is routed to the {offer.engine} "
                               f"engine, which takes {', '.join(offer.task_types)}", code="unsupported_task_type",
                               param=param)
    if kind not in VIDEO_TASK_TYPES:
        return
    if not req.video_urls:
        raise ValidationFailed(f"{param} {kind} needs a video reference in video_urls ({kind} works on @Video1)",
                               code="task_type_constraint", param=param)
    if req.effective_ratio != ADAPTIVE:
        raise ValidationFailed(f"{param} {kind} needs ratio {ADAPTIVE} (got {req.effective_ratio}): the output "
                               "keeps the video's frame", code="task_type_constraint", param=param)
    if kind == "edit" and req.duration != AUTO_DURATION:
        raise ValidationFailed(f"{param} edit needs duration {AUTO_DURATION} (got {req.duration}): the output "
                               "keeps the video's length", code="task_type_constraint", param=param)


def _check_acceptances(req: CreateVideoRequest, offer: ModelOffer, counts: dict[MediaKind, int]) -> None:
    """A model served by upstreams: at least one of them must be able to honour the request."""
    if not offer.acceptances:
        return
    frames = sum(1 for frame in (req.image_url, req.end_image_url) if frame is not None)
    counts = {**counts, "image": counts["image"] + frames}  # image-to-video's frames are images to an upstream
    refusals = [a.refusal(counts, req.duration, req.resolution, req.generate_audio) for a in offer.acceptances]
    if all(refusals):
        field = next(r[0] for r in refusals if r)
        why = "; ".join(f"{a.source}: {r[1]}" for a, r in zip(offer.acceptances, refusals, strict=True) if r)
        raise ValidationFailed(f"no upstream serving {req.model} can honour this request ({why})",
                               code="unsupported_by_upstream", param=field)


def models_default() -> CatalogModel:
    """The limits a served model missing from the catalog (a plugin's id) is held to: the default model's."""
    return next(m for m in catalog.BUILT_IN if m.id == REFERENCE_MODEL)


def _check_duration(req: CreateVideoRequest, entry: CatalogModel) -> None:
    if req.duration == AUTO_DURATION and entry.auto_duration:
        return
    if not entry.min_duration <= req.duration <= entry.max_duration:
        auto = f" or {AUTO_DURATION}" if entry.auto_duration else ""
        raise ValidationFailed(f"duration must be {entry.min_duration}–{entry.max_duration} seconds{auto} for "
                               f"{entry.id} (got {req.duration}); it takes at most {entry.max_duration}",
                               code="invalid_duration", param="duration")


def _check_reference_counts(counts: dict[MediaKind, int], entry: CatalogModel) -> None:
    for kind in URL_FIELDS:
        limit = entry.max_count(kind)
        if counts[kind] > limit:
            raise ValidationFailed(f"{URL_FIELDS[kind]} has {counts[kind]} entries; {entry.id} takes at most "
                                   f"{limit}", code="too_many_references", param=URL_FIELDS[kind])
    if sum(counts.values()) > entry.max_references:
        raise ValidationFailed(f"{sum(counts.values())} references in total; {entry.id} takes at most "
                               f"{entry.max_references}", code="too_many_references", param="image_urls")
    if counts["image"] == 0 and counts["video"] == 0:
        if counts["audio"] and entry.audio_only:
            return
        if counts["audio"]:
            raise ValidationFailed("audio references alone are not allowed; add at least one image or video",
                                   code="missing_visual_reference", param="audio_urls")
        raise ValidationFailed("reference-to-video needs at least one image or video in image_urls/video_urls",
                               code="missing_visual_reference", param="image_urls")
