"""Wire payload → the server's own models (`refvid.api.schemas`), tolerant of FoxAPI's answers.

refvid always sends every field; FoxAPI (same wire) may omit `task_info`, `usage` and result details, or
use its older `output` shape. Missing fields get neutral defaults (0, False, -1) so that both servers give
the same typed objects.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from refvid.api.schemas import FileObject, TaskObject
from refvid.contract import UPLOAD_TTL_S

__all__ = ["UPLOAD_TTL_S", "Reference", "file_object", "merge_reference_aliases", "task_object"]

Reference = str | os.PathLike[str]
"""A reference medium: an http(s):// or data: URL, an uploaded file's URL, or a local path."""
_RESULT_DEFAULTS = {"seed": -1, "width": 0, "height": 0, "duration": 0, "fps": 0, "has_audio": False}


def task_object(payload: dict[str, Any]) -> TaskObject:
    """A task object; fields FoxAPI may omit (task_info, usage, result details) get neutral defaults."""
    data = dict(payload)
    active = data.get("status") in ("pending", "processing")
    info = data.get("task_info") or {}
    data["task_info"] = {"can_cancel": bool(info.get("can_cancel", active)),
                         "estimated_time": round(float(info.get("estimated_time") or 0))}
    data["usage"] = data.get("usage") or {"credits_reserved": 0}
    data.setdefault("progress", 100 if data.get("status") == "completed" else 0)
    data.setdefault("created", 0)
    output = data.pop("output", None)  # Older FoxAPI shape: {"output": {"url", "urls", ...}}.
    if not data.get("results") and isinstance(output, dict) and output.get("url"):
        data["results"] = [{**output, "url": url} for url in output.get("urls") or [output["url"]]]
    if data.get("results"):
        data["results"] = [{**_RESULT_DEFAULTS, **{k: v for k, v in r.items() if v is not None}}
                           for r in data["results"] if isinstance(r, dict)]
    if isinstance(error := data.get("error"), dict):
        data["error"] = {"code": str(error.get("code") or "generation_failed"),
                         "message": str(error.get("message") or ""), "type": "task_error"}
    return TaskObject.model_validate(data)


def file_object(payload: dict[str, Any]) -> FileObject:
    data = {"object": "file", **payload}
    data.setdefault("expires_at", int(data.get("created") or 0) + UPLOAD_TTL_S)
    return FileObject.model_validate(data)


def merge_reference_aliases(**given: Sequence[Reference] | None) -> tuple[Sequence[Reference], ...]:
    """(images, videos, audios) from `create`'s keywords, where each kind may be passed by its Python name
    (`images=`) or by the wire's (`image_urls=`), so code written against the wire reads naturally; passing
    both names of one kind is a TypeError, since silently preferring one would drop references."""
    kinds = []
    for short in ("images", "videos", "audios"):
        wire_name = short[:-1] + "_urls"
        chosen, alias = given.get(short), given.get(wire_name)
        if chosen is not None and alias is not None:
            raise TypeError(f"create() got both {short}= and {wire_name}= (the same references): pass one")
        refs = chosen if chosen is not None else alias
        if isinstance(refs, (str, os.PathLike)):
            raise TypeError(f"create(): {short}= / {wire_name}= takes a list of references, not one {refs!r}")
        kinds.append(refs or ())
    return tuple(kinds)
