"""What the relay sends to Ark and how it reads Ark's answers (ModelArk "Create a video generation task"
and "Retrieve a video generation task"):

- our model ids → Ark model ids (BytePlus `dreamina-…`, Volcengine `doubao-…`, `REFVID_ARK_MODELS` overrides);
- the `content` array: the prompt (alone for text-to-video), then `image_url` (role `reference_image`),
  `video_url` (`reference_video`) and `audio_url` (`reference_audio`) items, each kind in request order, so
  that Ark's "Image 1" is our `image_urls[0]`; for image-to-video the first frame (`first_frame`) and the
  optional last frame (`last_frame`);
- prompt tokens `@Image1` / `@图像1` / `@图片1` (the grammar of `refvid.contract`) rewritten to the names
  Ark's prompt guide uses ("Image 1" / "图片1");
- how each reference travels: Ark takes images and audio as URLs or base64 data URLs, videos only as URLs.
  Our own uploads and `data:` URLs of images and audio are inlined from the local, already-validated file
  (within a budget that keeps the body under Ark's 64 MB limit); uploaded videos go as their signed upload
  URL under `REFVID_PUBLIC_URL` (as the client sent it when unset); `data:` videos cannot be relayed and
  fail with `upstream_rejected`; other http(s) URLs go exactly as the client sent them;
- every other parameter Ark takes that the request set (`service_tier`, `priority`, `execution_expires_after`,
  `safety_identifier`, `camera_fixed`, `watermark` (false unless asked), `return_last_frame`) as it was asked,
  and Seedance 2.5's `omni_reference_task_type` / `output_format` as the official SDKs send them (extra fields);
- upstream statuses → ours, and upstream task errors → `upstream_rejected` / `upstream_error`.
"""

from __future__ import annotations

import base64
import re
from typing import Any
from urllib.parse import urlsplit

from refvid import catalog
from refvid.config import Settings
from refvid.contract import ARK_FRAME_ROLES, Mention, replace_mentions
from refvid.engines.base import EngineInput
from refvid.errors import TaskFailure
from refvid.media.info import Reference

ROLES = {"image": "reference_image", "video": "reference_video", "audio": "reference_audio"}
DATA_MIME = {"jpeg": "image/jpeg", "png": "image/png", "webp": "image/webp", "mp3": "audio/mp3",
             "wav": "audio/wav"}
# Ark rejects request bodies over 64 MB; keep inlined references well below, leaving room for the rest.
MAX_INLINE_BYTES = 48 * 1024 * 1024

# Ark status → our wire status. Terminal failures are mapped by `failure_for`.
STATUS_MAP = {"queued": "pending", "running": "processing", "succeeded": "completed", "failed": "failed",
              "expired": "failed", "cancelled": "cancelled"}

_UPLOAD_PATH = re.compile(r"^/v1/files/file-[a-z0-9]{8,64}/[^/]+$")
_ZH_NAMES = {"image": "图片", "video": "视频", "audio": "音频"}  # Ark's guide writes `图片1`, never `图像1`
_REJECTED_CODE_HINTS = ("Sensitive", "Risk", "Invalid", "Missing", "Unsupported", "Policy", "Privacy")


def ark_model_for(settings: Settings, model: str) -> str:
    """The Ark model id serving `model`: REFVID_ARK_MODELS, else the default of the configured region."""
    overrides = dict(item.split("=", 1) for item in settings.ark_models if "=" in item)
    if model in overrides:
        return overrides[model].strip()
    host = urlsplit(settings.ark_base_url).hostname or ""
    models = catalog.active()
    region: catalog.ArkRegion = "volcengine" if host.endswith("volces.com") else "byteplus"
    ark_id = models.ark_id(model, region) if model in models else None  # one Ark id serves its line's modes
    if ark_id is None:
        raise TaskFailure(f"no Ark model is configured for {model} (set REFVID_ARK_MODELS={model}=<ark model id>)",
                          code="upstream_error")
    return ark_id


def rewrite_prompt(prompt: str) -> str:
    """`@Image2` → `Image 2`, `@图像2` / `@图片2` → `图片2` (the naming of Ark's Seedance 2.0 prompt guide); the
    mention grammar is `refvid.contract`'s, the one validation accepted the prompt with."""

    def name(mention: Mention) -> str:
        if mention.text[1].isascii():
            return f"{mention.kind.capitalize()} {mention.number}"
        return f"{_ZH_NAMES[mention.kind]}{mention.number}"

    return replace_mentions(prompt, name)


def is_our_upload(url: str) -> bool:
    """True for URLs shaped like the ones this server issues for uploads (`/v1/files/file-…/name`)."""
    try:
        return bool(_UPLOAD_PATH.match(urlsplit(url).path))
    except ValueError:
        return False


def data_url(ref: Reference) -> str:
    """The reference's local file as a base64 data URL in the form Ark documents (`data:image/png;base64,…`)."""
    mime = DATA_MIME.get(ref.info.format)
    if mime is None:
        raise TaskFailure(f"{ref.field}[{ref.index}]: the provider takes {ref.kind} as a URL or base64 "
                          f"JPEG/PNG/WebP/MP3/WAV, not {ref.info.format}", code="upstream_rejected")
    return f"data:{mime};base64,{base64.b64encode(ref.path.read_bytes()).decode('ascii')}"


def reference_url(ref: Reference, public_url: str | None, inline_budget: list[int]) -> str:
    """The URL string Ark gets for one reference (see the module docstring for the rules).
    `inline_budget` holds the base64 bytes still allowed in this request; inlining spends it."""
    is_data = ref.url.startswith("data:")
    if not (is_data or is_our_upload(ref.url)):
        return ref.url
    encoded_bytes = (ref.info.size_bytes + 2) // 3 * 4
    if ref.kind != "video" and encoded_bytes <= inline_budget[0]:
        inline_budget[0] -= encoded_bytes
        return data_url(ref)
    if not is_data:
        if not public_url:
            return ref.url  # signed with the base URL the client used; reachable if that base is public
        parts = urlsplit(ref.url)  # the signature covers the path only, so it holds under our public origin
        return f"{public_url.rstrip('/')}{parts.path}" + (f"?{parts.query}" if parts.query else "")
    why = ("the provider accepts reference videos only by URL" if ref.kind == "video"
           else "the references are too large to send inline in one request")
    raise TaskFailure(f"{ref.field}[{ref.index}]: {why}; upload the file (POST /v1/files/upload/...) and send "
                      "its URL instead of a data: URL, with REFVID_PUBLIC_URL set to an address the provider "
                      "can reach", code="upstream_rejected")


def build_request(job: EngineInput, ark_model: str, public_url: str | None) -> dict[str, Any]:
    """The body of `POST /contents/generations/tasks` for this job."""
    out = job.output
    content: list[dict[str, Any]] = []
    if job.prompt:
        content.append({"type": "text", "text": rewrite_prompt(job.prompt)})
    budget = [MAX_INLINE_BYTES]
    frames = catalog.active().mode_of(job.model) == "image"  # image-to-video: the images are the first (and last) frame
    for kind in ("image", "video", "audio"):
        for ref in sorted(job.of_kind(kind), key=lambda r: r.index):
            field = f"{kind}_url"
            role = ARK_FRAME_ROLES[min(ref.index, 1)] if frames else ROLES[kind]
            content.append({"type": field, field: {"url": reference_url(ref, public_url, budget)}, "role": role})
    # `adaptive` and -1 pass through where the job still carries them; the worker resolves `adaptive`
    # before engines run, so `requested_ratio` (when EngineInput has it) is preferred over the resolved one.
    ratio = getattr(job, "requested_ratio", None) or out.ratio
    body = {"model": ark_model, "content": content, "resolution": out.resolution, "ratio": ratio,
            "duration": out.duration_s if out.duration_s > 0 else -1, "generate_audio": out.generate_audio,
            "seed": out.seed, "watermark": False, **dict(job.passthrough)}
    return {**body, **seedance_25_fields(job)}


def seedance_25_fields(job: EngineInput) -> dict[str, str]:
    """`omni_reference_task_type` and `output_format` as the official SDKs send them: untyped extra fields at the
    top level of the body (`extra_body`), and only when not the default, as ByteDance's own nodes do (`auto`
    and `mp4` are left out, so a 2.0 model, which takes neither, never sees them)."""
    extra: dict[str, str] = {}
    task_type = str(getattr(job, "task_type", "auto") or "auto")  # EngineInput.task_type where the worker sets it
    if task_type != "auto":
        extra["omni_reference_task_type"] = task_type
    container = str(getattr(job.output, "container", "mp4") or "mp4")  # OutputSpec.container, likewise
    if container != "mp4":
        extra["output_format"] = container
    return extra


def failure_for(task: dict[str, Any]) -> TaskFailure:
    """The task failure for an upstream task that ended `failed`, `expired` or (unasked) `cancelled`."""
    status = str(task.get("status"))
    task_id = task.get("id", "?")
    error = task.get("error")
    if not isinstance(error, dict):
        error = {}
    provider_code = str(error.get("code") or status)
    detail = str(error.get("message") or "").strip()
    if status == "expired":
        return TaskFailure(f"the provider expired task {task_id} before it finished ({provider_code})"
                           + (f": {detail}" if detail else ""), code="upstream_error")
    if status == "cancelled":
        return TaskFailure(f"the provider task {task_id} was cancelled upstream ({provider_code})",
                           code="upstream_error")
    rejected = any(hint.lower() in provider_code.lower() for hint in _REJECTED_CODE_HINTS)
    verb = "refused" if rejected else "failed"
    return TaskFailure(f"the provider {verb} task {task_id} ({provider_code})" + (f": {detail}" if detail else ""),
                       code="upstream_rejected" if rejected else "upstream_error")


def progress_for(status: str, elapsed_running_s: float, expected_s: float) -> float:
    """A progress estimate (0–90) for an upstream task: queued 2, running 10 → 90 asymptotically (the
    provider reports no progress of its own); 0 (no news) for a status this relay does not know."""
    if status == "queued":
        return 2.0
    if status == "running":
        fraction = elapsed_running_s / (elapsed_running_s + max(1.0, expected_s))
        return 10.0 + 80.0 * fraction
    return 0.0
