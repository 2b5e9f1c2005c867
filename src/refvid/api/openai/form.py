"""A `/v1/videos` create body, multipart or JSON, read into one `OpenAICreateRequest`.

The `openai` SDK always sends multipart/form-data, even without a file, and flattens `extra_body` the way
`qs` does with brackets: a list arrives as repeated `key[]` fields, a dict as `key[sub]` fields, a boolean as
`true`/`false` and a number as its digits (upstreams.md §3). Those fields are folded back here into the JSON
shape a JSON client sends, and then both meet the same strict model. The `input_reference` file part is
streamed to a scratch file (never held in memory) under the upload size limit.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import Request
from pydantic import ValidationError

from refvid.api.body import read_json_body
from refvid.api.errors import ApiError, describe_validation_error
from refvid.api.inline_media import DATA_URL_KEYS
from refvid.api.multipart_stream import FormLimits, receive_multipart
from refvid.api.openai.errors import OpenAIError, from_refvid, invalid
from refvid.api.openai.schemas import OpenAICreateRequest
from refvid.api.uploads import MAX_UPLOAD_BYTES, temp_file
from refvid.runtime import Runtime

FILE_FIELD = "input_reference"
MAX_FORM_PARTS = 64  # the fields, the references as repeated `key[]` parts, and the file
LIST_FIELDS = ("image_urls", "video_urls", "audio_urls")
_NAME = re.compile(r"([^\[\]]+)(?:\[([^\[\]]*)\])?")
_INTEGER = re.compile(r"-?\d{1,20}")
_BOOLEANS = {"true": True, "false": False, "1": True, "0": False}


@dataclass(frozen=True)
class CreateForm:
    """The request, and the uploaded `input_reference` file (a scratch path and the client's name) if any."""

    request: OpenAICreateRequest
    file: Path | None = None
    filename: str | None = None


@asynccontextmanager
async def create_form(request: Request, runtime: Runtime) -> AsyncIterator[CreateForm]:
    """The create body as `CreateForm`; the scratch file of an uploaded reference is removed afterwards."""
    max_bytes = runtime.settings.max_body_bytes
    content_type = request.headers.get("content-type", "application/json").lower()
    if not content_type.startswith("multipart/form-data"):
        if "json" not in content_type:
            raise invalid("Content-Type", f"send multipart/form-data or application/json, not {content_type!r}",
                          "invalid_content_type")
        keep = {**DATA_URL_KEYS, "input_reference": False}  # its image_url, or a URL sent as itself
        yield CreateForm(parse_request(await read_json_body(request, max_bytes, keep)))
        return
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and (len(declared) > 18 or int(declared) > max_bytes + MAX_UPLOAD_BYTES):
        raise ApiError(413, f"request body is larger than {max_bytes + MAX_UPLOAD_BYTES} bytes", "body_too_large",
                       headers={"Connection": "close"})
    target = temp_file(runtime)
    try:
        limits = FormLimits(FILE_FIELD, MAX_FORM_PARTS, max_field_bytes=max_bytes, max_text_bytes=max_bytes)
        upload = await receive_multipart(request, target, MAX_UPLOAD_BYTES, limits, require_file=False)
        parsed = parse_request(fold_form(upload.pairs), has_file=upload.has_file)
        yield CreateForm(parsed, target if upload.has_file else None, upload.filename)
    finally:
        target.unlink(missing_ok=True)


def fold_form(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """Form fields → the JSON object they flatten: `k[]` (or `k[0]`, or `k` repeated) → a list, `k[sub]` → a
    dict; text that a field's type needs as a number or a boolean (`seed`, `generate_audio`) converted."""
    body: dict[str, Any] = {}
    for name, value in pairs:
        match = _NAME.fullmatch(name)
        if match is None:
            raise invalid(name, f"{name!r} is not a field name this API reads", "unknown_parameter")
        key, sub = match.group(1), match.group(2)
        typed = _typed(key, value)
        existing = body.get(key)
        if sub is None and existing is None:
            body[key] = [typed] if key in LIST_FIELDS else typed
        elif sub is None or sub == "" or sub.isdigit():
            if existing is not None and not isinstance(existing, list):
                existing = [existing]
            body[key] = [*(existing or []), typed]
        elif existing is None or isinstance(existing, dict):
            body[key] = {**(existing or {}), sub: typed}
        else:
            raise invalid(name, f"{key} is sent both as a value and as an object", f"invalid_{key}")
    return body


def parse_request(body: dict[str, Any], *, has_file: bool = False) -> OpenAICreateRequest:
    """The body as the create request; 400 naming the field for a wrong type, a missing or unknown field."""
    if isinstance(body.get(FILE_FIELD), str):  # SGLang's JSON form: the reference's URL itself
        body = {**body, FILE_FIELD: {"image_url": body[FILE_FIELD]}}
    if has_file and FILE_FIELD in body:
        raise invalid(FILE_FIELD, "send input_reference either as a file or as fields, not both")
    try:
        return OpenAICreateRequest.model_validate(body)
    except ValidationError as exc:
        raise _request_error(exc) from exc


def _typed(key: str, value: str) -> Any:
    if key == "seed" and _INTEGER.fullmatch(value):
        return int(value)
    if key == "generate_audio":
        return _BOOLEANS.get(value.strip().lower(), value)
    return value


def _request_error(exc: ValidationError) -> OpenAIError:
    status, message, code, param = describe_validation_error([dict(error) for error in exc.errors()])
    if code == "unknown_parameter":
        message = f"Unknown parameter: {param!r}. This API does not accept it (see docs/openai.md)."
    return from_refvid(status, message, code, param)
