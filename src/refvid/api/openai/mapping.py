"""A `/v1/videos` create request → the same `TaskSpec` the FoxAPI route builds, checked by the same rules.

The request is restated as the FoxAPI request it means and then parsed and checked exactly as
`POST /v1/videos/generations` checks it (`CreateVideoRequest`, `validate_create`), so a rule (durations,
resolutions per model, reference counts, mentions) is stated once and holds in every dialect:

- `seconds` (a string, default 4) → `duration`; `size` (`WxH`) → `resolution` × `ratio` from the pixel-size
  table, among the resolutions the model offers (an unknown size is refused listing the sizes it offers);
- `input_reference` (a file or `{image_url}`) → the first reference of its kind, `@Image1` for an image (the
  first frame on an image-to-video model); a prompt that does not mention it gets `@Image1 ` in front, so
  the prompt refers to it. Extra `image_urls` follow it (`@Image2`, …);
- no `model` → the default model's line (`Catalog.sibling`): text-to-video for a prompt alone,
  reference-to-video with references;
- no `generate_audio` → whether the model's engine here makes sound (OpenAI clients never send it).

A broken rule raises `OpenAIError` naming the field as this dialect's client sent it (`seconds`, `size`,
`input_reference`), not as the FoxAPI rule calls it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from refvid import catalog
from refvid.api.openai.errors import OpenAIError, from_refvid, invalid
from refvid.api.openai.schemas import OpenAICreateRequest
from refvid.api.validation import build_task_spec, validate_fields
from refvid.contract import (
    DEFAULT_MODEL,
    OPENAI_DEFAULT_SECONDS,
    URL_FIELDS,
    MediaKind,
    Mode,
    ModelOffer,
    find_mentions,
    sizes_of,
)
from refvid.errors import ValidationFailed
from refvid.tasks.model import TaskSpec

# Where an uploaded `input_reference` file goes until it is stored (only after the request passed every rule).
UPLOAD_PLACEHOLDER = "https://input-reference.invalid/upload"
_SECONDS = re.compile(r"-?\d{1,6}")
_MENTION_WORD: dict[MediaKind, str] = {"image": "Image", "video": "Video", "audio": "Audio"}


@dataclass(frozen=True)
class OpenAISubmission:
    """What the route submits: the spec, and the engine that serves its model here."""

    spec: TaskSpec
    offer: ModelOffer


def map_create(req: OpenAICreateRequest, served: dict[str, ModelOffer],
               file_kind: MediaKind | None = None) -> OpenAISubmission:
    """The TaskSpec for a request (an uploaded `input_reference` of `file_kind` stands as UPLOAD_PLACEHOLDER),
    or OpenAIError for the first broken rule."""
    reference = _input_reference(req, file_kind)
    lists: dict[str, list[str]] = {field: list(getattr(req, field) or []) for field in URL_FIELDS.values()}
    mode: Mode = "reference" if reference or any(lists.values()) else "text"
    model = req.model or catalog.active().sibling(DEFAULT_MODEL, mode)
    offer = served.get(model)
    if offer is None:
        raise _unknown_model(model, req.model is None, served)
    fields: dict[str, Any] = {"model": model, "prompt": req.prompt, "duration": _duration(req.seconds)}
    where = {"duration": "seconds", "image_url": "input_reference"}
    if reference is not None:
        kind, url = reference
        if kind == "image" and catalog.active().mode_of(model) == "image":
            fields["image_url"] = url  # OpenAI's input_reference was the first frame
        else:
            field = URL_FIELDS[kind]
            where.update({f"{field}[{i + 1}]": f"{field}[{i}]" for i in range(len(lists[field]))})
            where[f"{field}[0]"] = "input_reference"
            if not lists[field]:  # a rule about the whole list is about the reference alone
                where[field] = "input_reference"
            lists[field].insert(0, url)
            if not any((m.kind, m.number) == (kind, 1) for m in find_mentions(req.prompt)):
                fields["prompt"] = f"@{_MENTION_WORD[kind]}1 {req.prompt}"
    fields.update({field: urls for field, urls in lists.items() if urls})
    fields.update(_size_fields(req, model, offer, where))
    fields["generate_audio"] = offer.supports_audio if req.generate_audio is None else req.generate_audio
    if req.seed is not None:
        fields["seed"] = req.seed
    try:
        foxapi, offer = validate_fields(fields, served)
    except ValidationFailed as exc:
        raise _renamed(exc.code, exc.message, exc.param or "prompt", where) from exc
    return OpenAISubmission(build_task_spec(foxapi, dialect="openai"), offer)


def _input_reference(req: OpenAICreateRequest, file_kind: MediaKind | None) -> tuple[MediaKind, str] | None:
    """(kind, URL) of `input_reference`: the uploaded file, or `{image_url}`."""
    if file_kind is not None:
        return file_kind, UPLOAD_PLACEHOLDER
    sent = req.input_reference
    if sent is None:
        return None
    if sent.file_id is not None:
        raise invalid("input_reference.file_id", "input_reference.file_id is not offered here: upload the file "
                      "with the request, or send an upload's url as input_reference[image_url]")
    if sent.image_url is None:
        raise OpenAIError(400, "input_reference needs image_url (or send a file)", "missing_required_parameter",
                          "input_reference.image_url")
    return "image", sent.image_url


def _duration(seconds: str | int | None) -> int:
    if seconds is None:
        return OPENAI_DEFAULT_SECONDS
    if isinstance(seconds, int):
        return seconds
    if not _SECONDS.fullmatch(seconds.strip()):
        raise invalid("seconds", f"seconds must be a whole number of seconds, like \"4\" (got {seconds[:40]!r})")
    return int(seconds)


def _size_fields(req: OpenAICreateRequest, model: str, offer: ModelOffer, where: dict[str, str]) -> dict[str, str]:
    """`resolution` and `ratio` from `size` (or from the extra fields when `size` is left out)."""
    chosen = {name: value for name in ("resolution", "ratio") if (value := getattr(req, name)) is not None}
    if req.size is None:
        return chosen
    sizes = sizes_of(offer.resolutions)
    if req.size not in sizes:
        raise invalid("size", f"size {req.size[:40]!r} is not offered by {model}; use one of "
                              f"{', '.join(sizes)} (width x height)")
    resolution, ratio = sizes[req.size]
    for name, value in (("resolution", resolution), ("ratio", ratio)):
        if chosen.get(name, value) != value:
            raise invalid(name, f"{name} {chosen[name]!r} disagrees with size {req.size} ({resolution}, {ratio});"
                                " send one of them")
        where.setdefault(name, "size")
    return {"resolution": resolution, "ratio": ratio}


def _renamed(code: str, message: str, param: str, where: dict[str, str]) -> OpenAIError:
    """A FoxAPI rule's failure, naming the field this dialect's client sent."""
    ours = where.get(param) or where.get(param.split("[")[0]) or param
    if ours != param and code == f"invalid_{param.split('[')[0]}":
        code = f"invalid_{ours.split('[')[0].split('.')[0]}"
    if ours != param:
        message = message.replace(param, ours).replace("duration", "seconds")
        message = message if message.startswith(ours) else f"{ours}: {message}"
    return from_refvid(422, message, code, ours)


def _unknown_model(model: str, defaulted: bool, served: dict[str, ModelOffer]) -> OpenAIError:
    ids = ", ".join(sorted(served)) or "none"
    if defaulted:
        return invalid("model", f"no model was given and the default, {model}, is not served here; send model: "
                                f"one of {ids}", "invalid_model")
    return invalid("model", f"model {model[:80]!r} is not served here; available: {ids}", "invalid_model")
