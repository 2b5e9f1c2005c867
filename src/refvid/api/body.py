"""Reading a request's JSON body without stalling the other requests (issue 14, issue 27).

- A body whose declared Content-Length is over the route's limit is refused (413) before a byte of it is
  read; the edge (api/edge.py) then lingers, dropping the rest unparsed, so the client reads the 413.
- The body is read chunk by chunk as uvicorn hands it over (each chunk waits on the socket, so other
  requests run in between), counted against the limit (never trusting Content-Length), and grown in place
  (large buffers grow by mremap, without copying), never sized up front from Content-Length: a client could
  declare 64 MiB on many connections and send nothing.
- Parsing a big body (past PARSE_OFF_LOOP_BYTES) runs on one thread of its own, never on the event loop; one,
  not the shared pool: eight 60 MiB bodies parsed at once took every CPU and slowed every other request down,
  here they wait their turn. `parse_json_holding` (api/json_body.py) keeps each of its C calls short, so the
  event loop gets the interpreter back between them, and leaves the long `data:` URLs of the keys a route
  names as bytes, never one long `str` (api/body_strings.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError

from refvid.api.body_strings import hold
from refvid.api.errors import ApiError
from refvid.api.json_body import TooDeep, parse_json_holding

ModelT = TypeVar("ModelT", bound=BaseModel)
PARSE_OFF_LOOP_BYTES = 256 * 1024
_PARSE_POOL = ThreadPoolExecutor(1, thread_name_prefix="refvid-json")


def too_large(max_bytes: int) -> ApiError:
    """413 for a body past `max_bytes`; the connection closes after it (rather than read and drop the rest)."""
    return ApiError(413, f"request body is larger than {max_bytes} bytes", "body_too_large",
                    headers={"Connection": "close"})


def declared_too_large(request: Request, max_bytes: int) -> bool:
    """Whether the request's Content-Length alone is past `max_bytes` (then refuse it unread)."""
    declared = request.headers.get("content-length", "")
    return declared.isdigit() and (len(declared) > 18 or int(declared) > max_bytes)


async def read_json_body(request: Request, max_bytes: int, keep: Mapping[str, bool] | None = None) -> dict[str, Any]:
    """The body as a JSON object; 400 if it is not one (or nests too deeply, see api/json_body.py), 413 past
    `max_bytes` (declared or counted). Long `data:` URLs under the keys of `keep` (and bare base64 where
    `keep[key]`) are stand-ins for bytes held for this request: `api/body_strings.held_string` has them."""
    content_type = request.headers.get("content-type", "application/json").lower()
    if "json" not in content_type:
        raise ApiError(400, f"Content-Type must be application/json, not {content_type!r}", "invalid_content_type")
    if declared_too_large(request, max_bytes):
        raise too_large(max_bytes)
    raw = bytearray()
    async for chunk in request.stream():
        if len(raw) + len(chunk) > max_bytes:
            raise too_large(max_bytes)
        raw += chunk
    try:
        if len(raw) < PARSE_OFF_LOOP_BYTES:
            body, held = parse_json_holding(raw, keep or {})
        else:
            body, held = await asyncio.get_running_loop().run_in_executor(
                _PARSE_POOL, parse_json_holding, raw, keep or {})
    except TooDeep as exc:
        raise ApiError(400, str(exc), "invalid_json") from exc
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, f"request body is not valid JSON: {exc}", "invalid_json") from exc
    if not isinstance(body, dict):
        raise ApiError(400, "request body must be a JSON object", "invalid_json")
    hold(held)
    return body


def parse_body(model: type[ModelT], body: dict[str, Any]) -> ModelT:
    """Validate a JSON body against a wire model; errors take the usual 400/422 envelope."""
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        raise RequestValidationError(exc.errors()) from exc
