"""An Ark create request → the same `TaskSpec` the FoxAPI route builds, checked by the same rules.

The Ark request is restated as the FoxAPI request it means (`content` text → `prompt`, `image_url` items with
role `reference_image` → `image_urls` in content order, `first_frame` / `last_frame` → `image_url` /
`end_image_url`, and so on; Ark's model ids → ours of the same tier, in the mode the content asks for:
references → reference-to-video, frames → image-to-video, text alone → text-to-video) and then parsed and
checked exactly as `POST /v1/videos/generations` checks it (`CreateVideoRequest` and `validate_create`), so a
rule (duration range, ratios, resolutions per model, reference counts, mentions, audio alone) is stated once
and holds in both dialects. Only the rules that belong to Ark's shape live here: item types, roles, one text,
and the Ark-only parameters. A broken rule raises `ArkError` naming the parameter the way the Ark client sent
it (`content[2].image_url.url`, not `image_urls[1]`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from refvid import catalog
from refvid.api.ark.errors import ArkError, from_refvid, invalid, missing, param_of
from refvid.api.ark.schemas import ArkContentItem, ArkCreateRequest
from refvid.api.drafts import load_draft
from refvid.api.validation import build_task_spec, validate_fields
from refvid.contract import (
    ARK_DEFAULT_EXPIRES_AFTER_S,
    ARK_FRAME_ROLES,
    ARK_ROLES,
    FRAME_FIELDS,
    QUEUE_INPUTS,
    Mode,
    ModelOffer,
)
from refvid.errors import ValidationFailed
from refvid.tasks.model import Task, TaskSpec
from refvid.tasks.service import TaskService

# content item type → (FoxAPI list field, the one role refvid serves for it)
_REFERENCE_ROLES = {"image_url": ("image_urls", "reference_image"), "video_url": ("video_urls", "reference_video"),
                    "audio_url": ("audio_urls", "reference_audio")}
# Ark features refvid does not offer, and the only values of each that it accepts.
_OFF_VALUES: dict[str, tuple[Any, ...]] = {"frames": (None,), "tools": (None, [])}


@dataclass(frozen=True)
class ArkSubmission:
    """What the route submits: the spec, and the engine that serves its model here."""

    spec: TaskSpec
    offer: ModelOffer


def parse_create(body: dict[str, Any]) -> ArkCreateRequest:
    """The body as Ark's create request; 400 in Ark's shape for a wrong type or an unknown field."""
    try:
        return ArkCreateRequest.model_validate(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        param = param_of(tuple(first["loc"]))
        if first["type"] == "missing":
            raise missing(param) from exc
        if first["type"] == "extra_forbidden":
            raise invalid(param, "unknown parameter.") from exc
        raise invalid(param, f"{first['msg']}.") from exc


async def load_final_draft(req: ArkCreateRequest, service: TaskService, owner: str) -> Task | None:
    """The draft a final's `draft_task` item names (None for any other request), or ArkError naming the item
    when there is no such draft of this key (`refvid.api.drafts.load_draft`)."""
    found = next(((index, item.draft_task) for index, item in enumerate(req.content)
                  if item.type == "draft_task" and item.draft_task is not None), None)
    if found is None:
        return None
    if req.draft:
        raise invalid("draft", "a request is a draft (draft: true) or the final of one (a draft_task item), not both.")
    index, draft_task = found
    try:
        return await load_draft(service, owner, draft_task.id)
    except ValidationFailed as exc:
        raise from_refvid(422, exc.code, exc.message, f"content[{index}].draft_task.id") from exc


def map_create(req: ArkCreateRequest, served: dict[str, ModelOffer], draft: Task | None = None) -> ArkSubmission:
    """The TaskSpec for an Ark request, or ArkError for the first broken rule. A final's `draft` is the task
    its `draft_task` item names (`load_final_draft`)."""
    for name, allowed in _OFF_VALUES.items():
        if getattr(req, name) not in allowed:
            raise invalid(name, f"{name} is not offered by this server (accepted: "
                                f"{', '.join(repr(v) for v in allowed if v is not None) or 'null'}).")
    fields, where = _foxapi_fields(req)
    if ("draft_task_id" in fields) != (draft is not None):
        raise invalid(where.get("draft_task_id", "content"), "the draft_task item and its draft do not match.")
    try:
        foxapi, offer = validate_fields(fields, served, draft)
    except ValidationFailed as exc:
        if exc.code == "invalid_model":
            raise _unknown_model(req.model, served) from exc
        raise _ark_error(exc.code, exc.message, exc.param or "request", where) from exc
    options: dict[str, str | int | bool] = {"model": req.model}
    for name in ("return_last_frame", "camera_fixed", "watermark", "safety_identifier"):
        value = getattr(req, name)
        if value is not None:
            options[name] = value
    spec = build_task_spec(foxapi, dialect="ark", dialect_options=tuple(sorted(options.items())))
    return ArkSubmission(spec, offer)


def _foxapi_fields(req: ArkCreateRequest) -> tuple[dict[str, Any], dict[str, str]]:
    """The FoxAPI request the Ark request means, and where each FoxAPI parameter came from in Ark's terms."""
    if not req.content:
        raise invalid("content", "content must hold at least one item.")
    lists: dict[str, list[str]] = {"image_urls": [], "video_urls": [], "audio_urls": []}
    where: dict[str, str] = {"image_urls": "content", "video_urls": "content", "audio_urls": "content",
                             "prompt": "content"}
    prompt: str | None = None
    draft_task_id: str | None = None
    frames: list[tuple[str, str, str]] = []  # (role, url, where) of first_frame / last_frame items
    for index, item in enumerate(req.content):
        at = f"content[{index}]"
        if item.type == "draft_task":  # a final: the draft's prompt and references come with it
            if item.draft_task is None:
                raise missing(f"{at}.draft_task.id")
            if draft_task_id is not None:
                raise invalid(at, "at most one draft_task item is allowed.")
            draft_task_id, where["draft_task_id"] = item.draft_task.id, f"{at}.draft_task.id"
            continue
        if item.type == "text":
            if item.text is None:
                raise missing(f"{at}.text")
            if prompt is not None:
                raise invalid(at, "at most one text item is allowed.")
            prompt, where["prompt"] = item.text, f"{at}.text"
            continue
        if item.type not in _REFERENCE_ROLES:
            raise invalid(f"{at}.type", f"{item.type!r} is not one of text, image_url, video_url, audio_url, "
                                        "draft_task.")
        url = _reference_url(item, at)
        field, _ = _REFERENCE_ROLES[item.type]
        _check_role(item, at)
        if item.role in ARK_FRAME_ROLES:
            frames.append((item.role, url, at))
            continue
        where[f"{field}[{len(lists[field])}]"] = f"{at}.{item.type}.url"
        lists[field].append(url)
    mode: Mode = "image" if frames else ("reference" if any(lists.values()) else "text")
    fields: dict[str, Any] = {"model": _our_model(req.model, mode)}  # only what was sent: a final compares it
    sent: dict[str, Any] = {"prompt": prompt, "draft_task_id": draft_task_id, **lists}
    fields.update({name: value for name, value in sent.items() if value is not None and value != []})
    for name, (url, at) in _frame_fields(frames, lists).items():
        fields[name], where[name] = url, f"{at}.image_url.url"
    for name in ("resolution", "ratio", "duration", "seed", "generate_audio", "callback_url", "draft", *QUEUE_INPUTS,
                 "output_format", "omni_reference_task_type"):
        value = getattr(req, name)
        if value is not None:
            fields[name] = value
            where[name] = name
    fields.setdefault("execution_expires_after", ARK_DEFAULT_EXPIRES_AFTER_S)  # Ark's deadline when left out
    return fields, where


def _reference_url(item: ArkContentItem, at: str) -> str:
    media = getattr(item, item.type)
    for other in ("text", "draft_task", *(kind for kind in _REFERENCE_ROLES if kind != item.type)):
        if getattr(item, other) is not None:
            raise invalid(f"{at}.{other}", f"an item of type {item.type} carries no {other}.")
    if media is None:
        raise missing(f"{at}.{item.type}.url")
    return str(media.url)


def _check_role(item: ArkContentItem, at: str) -> None:
    roles = ARK_ROLES[item.type]
    if item.role is None:
        raise missing(f"{at}.role", f"an {item.type} item needs a role: {', '.join(roles)}.")
    if item.role not in roles:
        raise invalid(f"{at}.role", f"{item.role!r} is not a role of {item.type}; use {', '.join(roles)}.")


def _frame_fields(frames: list[tuple[str, str, str]], lists: dict[str, list[str]]) -> dict[str, tuple[str, str]]:
    """Ark's image-to-video rules: one `first_frame`, at most one `last_frame` and only with a first frame, and
    frames never mixed with `reference_*` items (Ark's scenarios are exclusive). → image_url / end_image_url."""
    if not frames:
        return {}
    by_role: dict[str, list[tuple[str, str]]] = {role: [] for role in ARK_FRAME_ROLES}
    for role, url, at in frames:
        by_role[role].append((url, at))
    for role, items in by_role.items():
        if len(items) > 1:
            raise invalid(items[1][1] + ".role", f"at most one image may have role {role}.")
    if not by_role["first_frame"]:
        raise invalid(by_role["last_frame"][0][1] + ".role", "a last_frame image needs a first_frame image.")
    if any(lists.values()):
        raise invalid("content", "first_frame/last_frame images cannot be combined with reference_image, "
                                 "reference_video or reference_audio items.")
    picked = [by_role["first_frame"][0], *by_role["last_frame"]]
    return dict(zip(FRAME_FIELDS, picked, strict=False))


def _our_model(model: str, mode: Mode) -> str:
    """Ark's ids serve every mode, so the content picks our model of that tier; our own ids are taken as sent
    (and a content that does not fit their mode is refused by the shared rules)."""
    models = catalog.active()
    ours = models.ark_models().get(model)
    return models.sibling(ours, mode) if ours else model


def _ark_error(code: str, message: str, fox_param: str, where: dict[str, str]) -> ArkError:
    """A FoxAPI rule's failure, with its parameter renamed to the Ark parameter it came from."""
    param = where.get(fox_param) or where.get(fox_param.split("[")[0]) or fox_param
    if fox_param == "prompt" and code in ("missing", "missing_required_parameter"):
        return missing("content", f"a text item (the prompt) is required for {message.split(' for ')[-1]}.")
    if fox_param in FRAME_FIELDS and code == "missing_required_parameter":
        return missing("content", "an image_url item with role first_frame is required for image-to-video.")
    return from_refvid(422, code, message, param)


def _unknown_model(model: str, served: dict[str, ModelOffer]) -> ArkError:
    """404 InvalidEndpointOrModel.NotFound, as Ark answers a model it does not have, listing what is served."""
    ids = sorted(ark_id for ark_id, ours in catalog.active().ark_models().items() if ours in served) + sorted(served)
    return ArkError(404, "InvalidEndpointOrModel.NotFound", f"The model or endpoint {model} does not exist or you "
                    f"do not have access to it; served here: {', '.join(ids) or 'none'}.", "model")
