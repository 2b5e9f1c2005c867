"""The documented rules of Ark's "Create a video generation task" call that the fake enforces, answered the
way Ark answers them (HTTP 400, `InvalidParameter…` / `MissingParameter`, in the error envelope)."""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any
from urllib.parse import urlsplit

ROLES = {"image_url": {"reference_image", "first_frame", "last_frame"}, "video_url": {"reference_video"},
         "audio_url": {"reference_audio"}}
DATA_URL = {"image_url": re.compile(r"^data:image/(png|jpeg|jpg|webp|bmp|tiff|gif);base64,(.*)$", re.S),
            "audio_url": re.compile(r"^data:audio/(wav|mp3|mpeg);base64,(.*)$", re.S)}
FIELDS = {"model", "content", "resolution", "ratio", "duration", "generate_audio", "seed", "watermark",
          "callback_url", "return_last_frame", "service_tier", "execution_expires_after", "frames",
          "camera_fixed", "draft", "priority", "safety_identifier", "tools",
          # Seedance 2.5, untyped in the SDKs (sent as extra_body)
          "output_format", "omni_reference_task_type"}
# Per model line: (images, videos, audios, most seconds, audio alone allowed); 2.5 ids carry `2-5`.
LIMITS = {"2.0": (9, 3, 3, 15, False), "2.5": (30, 10, 10, 30, True)}
CHOICES = {"service_tier": {"default", "flex"}, "omni_reference_task_type": {"auto", "reference", "edit", "extend"},
           "output_format": {"mp4", "mov"}}
RATIOS = {"16:9", "4:3", "1:1", "3:4", "9:16", "21:9", "adaptive"}


class ArkReject(Exception):
    def __init__(self, status: int, code: str, message: str, kind: str = "BadRequest"):
        super().__init__(message)
        self.status, self.code, self.message, self.kind = status, code, message, kind


def validate_create(body: Any) -> None:
    """The documented rules of the create call that a relay could get wrong (400 InvalidParameter)."""

    def bad(param: str, why: str) -> ArkReject:
        return ArkReject(400, f"InvalidParameter.{param}", f"The parameter `{param}` specified in the request "
                                                           f"is not valid: {why}.")

    if not isinstance(body, dict):
        raise ArkReject(400, "InvalidParameter", "the request body is not a JSON object")
    for key in body:
        if key not in FIELDS:
            raise bad(key, "unknown parameter")
    if not isinstance(body.get("model"), str) or not body["model"]:
        raise ArkReject(400, "MissingParameter", "The request failed because it is missing `model`.")
    content = body.get("content")
    if not isinstance(content, list) or not content:
        raise bad("content", "must be a non-empty list")
    counts = {"text": 0, "image_url": 0, "video_url": 0, "audio_url": 0}
    for item in content:
        kind = item.get("type") if isinstance(item, dict) else None
        if kind not in counts:
            raise bad("content.type", f"unknown type {kind!r}")
        counts[kind] += 1
        if kind == "text":
            if not isinstance(item.get("text"), str):
                raise bad("content.text", "must be a string")
            continue
        url = (item.get(kind) or {}).get("url")
        if not isinstance(url, str) or not url:
            raise bad(f"content.{kind}.url", "missing")
        if item.get("role") not in ROLES[kind]:
            raise bad("content.role", f"{item.get('role')!r} is not a role of {kind}")
        _check_url(kind, url, bad)
    roles = [item.get("role") for item in content if item.get("type") == "image_url"]
    frames = [role for role in roles if role in ("first_frame", "last_frame")]
    if frames and (len(frames) != len(roles) or counts["video_url"] or counts["audio_url"]):
        raise bad("content", "first_frame/last_frame cannot be combined with reference content")
    if frames and sorted(frames) not in (["first_frame"], ["first_frame", "last_frame"]):
        raise bad("content.role", f"frame roles {frames}: one first_frame, optionally one last_frame")
    line = "2.5" if "2-5" in body["model"] else "2.0"
    images, videos, audios, longest_s, audio_alone = LIMITS[line]
    if counts["text"] > 1 or counts["image_url"] > images or counts["video_url"] > videos \
            or counts["audio_url"] > audios:
        raise bad("content", f"too many items for Seedance {line}: {counts}")
    if counts["audio_url"] and not (counts["image_url"] or counts["video_url"] or audio_alone):
        raise bad("content", "audio needs at least one image or video")
    _check_options(body, line, bad)
    if body.get("resolution", "720p") not in ("480p", "720p", "1080p"):
        raise bad("resolution", repr(body.get("resolution")))
    if body.get("ratio", "adaptive") not in RATIOS:
        raise bad("ratio", repr(body.get("ratio")))
    duration = body.get("duration", 5)
    if not isinstance(duration, int) or isinstance(duration, bool) \
            or not (duration == -1 or 4 <= duration <= longest_s):
        raise bad("duration", repr(duration))
    seed = body.get("seed", -1)
    if not isinstance(seed, int) or isinstance(seed, bool) or not -1 <= seed <= 2**32 - 1:
        raise bad("seed", repr(seed))
    for flag in ("generate_audio", "watermark", "camera_fixed", "return_last_frame", "draft"):
        if not isinstance(body.get(flag, True), bool):
            raise bad(flag, "must be a boolean")


def _check_options(body: dict[str, Any], line: str, bad: Any) -> None:
    """The queue, safety and Seedance 2.5 parameters (upstreams.md §4): choices, ranges, and what 2.0 lacks."""
    for name, choices in CHOICES.items():
        if name in body and body[name] not in choices:
            raise bad(name, f"{body[name]!r} is not one of {sorted(choices)}")
    for name in ("output_format", "omni_reference_task_type"):
        if name in body and line != "2.5":
            raise bad(name, f"only Seedance 2.5 takes {name}")
    expires = body.get("execution_expires_after", 3600)
    if not isinstance(expires, int) or isinstance(expires, bool) or not 3600 <= expires <= 259_200:
        raise bad("execution_expires_after", repr(expires))
    priority = body.get("priority", 0)
    if not isinstance(priority, int) or isinstance(priority, bool) or not 0 <= priority <= 9:
        raise bad("priority", repr(priority))
    if not isinstance(body.get("safety_identifier", ""), str):
        raise bad("safety_identifier", "must be a string")


def _check_url(kind: str, url: str, bad: Any) -> None:
    if url.startswith("data:"):
        pattern = DATA_URL.get(kind)
        match = pattern.match(url) if pattern else None
        if match is None:
            raise bad(f"content.{kind}.url", "base64 is not accepted here" if pattern is None
                      else "malformed base64 data URL")
        try:
            base64.b64decode(match.group(2), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise bad(f"content.{kind}.url", "invalid base64") from exc
    elif urlsplit(url).scheme not in ("http", "https", "asset"):
        raise bad(f"content.{kind}.url", "must be an http(s) URL")
