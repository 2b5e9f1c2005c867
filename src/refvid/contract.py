"""The wire's facts, stated once (spec `docs/api.md`): the grammar and what is the same for every model:
resolutions, ratios, the pixel-size table, reference file limits, TTL defaults and the one `@`-mention grammar.
What differs per model (modes, durations, reference counts, resolutions, Ark ids) is `refvid.catalog`'s; the
duration and count constants here are the Seedance 2.0 line's (the default model's), which the built-in
catalog states its 2.0 models with.

Everything that validates a request, renders a video, relays one upstream or describes the API reads these
names; nothing else restates them. This module imports nothing of refvid's, so every layer may use it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

MediaKind = Literal["image", "video", "audio"]
Mode = Literal["reference", "image", "text"]  # reference-to-video, image-to-video, text-to-video


REFERENCE_MODEL = "seedance-2.0-reference-to-video"
FAST_REFERENCE_MODEL = "seedance-2.0-fast-reference-to-video"
IMAGE_MODEL = "seedance-2.0-image-to-video"  # FoxAPI's siblings: `image_url` (+ `end_image_url`) frames
FAST_IMAGE_MODEL = "seedance-2.0-fast-image-to-video"
TEXT_MODEL = "seedance-2.0-text-to-video"  # the prompt alone
FAST_TEXT_MODEL = "seedance-2.0-fast-text-to-video"
MODES: tuple[Mode, ...] = ("reference", "image", "text")
# How a task waits, as Ark takes it (FoxAPI and Ark dialects alike, docs/api.md "Queue
# order and deadlines"): `service_tier` flex queues behind the key's default-tier tasks, a higher `priority`
# goes first within a key, and a task not finished `execution_expires_after` seconds after its creation ends
# expired. Priority 0–9 is what third-party Ark docs show (no ByteDance-run source states it).
QUEUE_INPUTS = ("service_tier", "execution_expires_after", "priority")
SERVICE_TIERS = ("default", "flex")
DEFAULT_SERVICE_TIER = "default"
MIN_EXPIRES_AFTER_S = 3600
MAX_EXPIRES_AFTER_S = 259_200
ARK_DEFAULT_EXPIRES_AFTER_S = 172_800  # what Ark applies when the field is left out
MIN_PRIORITY = 0
MAX_PRIORITY = 9
DEFAULT_PRIORITY = 0
# What each mode takes besides the common fields (resolution, ratio, duration, generate_audio, seed,
# callback_url): `required` must be sent, `optional` may be; every other input field is refused naming it.
COMMON_INPUTS = ("model", "resolution", "ratio", "aspect_ratio", "duration", "generate_audio", "seed",
                 "callback_url", *QUEUE_INPUTS, "output_format", "omni_reference_task_type")
FRAME_FIELDS = ("image_url", "end_image_url")  # image-to-video: first frame, optional last frame
MODE_INPUTS: dict[Mode, dict[str, tuple[str, ...]]] = {
    "reference": {"required": ("prompt",), "optional": ("image_urls", "video_urls", "audio_urls")},
    "image": {"required": ("image_url",), "optional": ("end_image_url", "prompt")},
    "text": {"required": ("prompt",), "optional": ()},
}
DEFAULT_MODEL = REFERENCE_MODEL

# Output: resolution × ratio → exact pixel size; 24 fps; duration × 24 frames.
FPS = 24
RESOLUTIONS = ("480p", "720p", "1080p")
DEFAULT_RESOLUTION = "720p"
RATIOS = ("16:9", "4:3", "1:1", "3:4", "9:16", "21:9")
ADAPTIVE = "adaptive"
DEFAULT_RATIO = "16:9"  # what `adaptive` becomes when no reference has a size
SIZES: dict[str, dict[str, tuple[int, int]]] = {
    "480p": {"16:9": (864, 496), "4:3": (752, 560), "1:1": (640, 640), "3:4": (560, 752),
             "9:16": (496, 864), "21:9": (992, 432)},
    "720p": {"16:9": (1280, 720), "4:3": (1112, 834), "1:1": (960, 960), "3:4": (834, 1112),
             "9:16": (720, 1280), "21:9": (1470, 630)},
    "1080p": {"16:9": (1920, 1080), "4:3": (1664, 1248), "1:1": (1440, 1440), "3:4": (1248, 1664),
              "9:16": (1080, 1920), "21:9": (2206, 946)},
}
MIN_DURATION_S = 4
MAX_DURATION_S = 15
DEFAULT_DURATION_S = 5
AUTO_DURATION = -1  # `duration: -1`: the engine decides
MAX_PROMPT_CHARS = 5000
# Output containers (`output_format`; which a model offers is its catalog entry's `output_formats`): the same
# H.264 + AAC streams in an MP4 or a QuickTime MOV, served under these names and media types.
OUTPUT_FORMATS = ("mp4", "mov")
VIDEO_MEDIA_TYPES = {"mp4": "video/mp4", "mov": "video/quicktime"}
# `omni_reference_task_type` (Seedance 2.5; which a model takes is its catalog entry's `task_types`): `auto` and
# `reference` make a video from the references; `edit` reworks the first video reference and `extend` continues
# it, so both need one. Ark's rules for them: each needs ratio `adaptive`, edit also `duration: -1` (the
# source's length), and an edit's source is at least 4 s long (checked once the video is fetched).
TASK_TYPES = ("auto", "reference", "edit", "extend")
VIDEO_TASK_TYPES = ("edit", "extend")
EDIT_MIN_SOURCE_S = 4.0
RANDOM_SEED = -1
MAX_SEED = 2_147_483_647

# Sizes (docs/api.md, "Units"). MB = 10**6 bytes, as FoxAPI and BytePlus write their reference limits ("30 MB"):
# whichever unit they mean, a file that passes these limits passes theirs, so a relayed task is never refused
# upstream for a size we accepted. MiB = 2**20 bytes, only for limits stated that way (the 64 MiB request body).
MB = 10**6
MIB = 2**20

# References (spec §3).
MAX_COUNT: dict[MediaKind, int] = {"image": 9, "video": 3, "audio": 3}
MAX_TOTAL_REFERENCES = 12
URL_FIELDS: dict[MediaKind, str] = {"image": "image_urls", "video": "video_urls", "audio": "audio_urls"}
IMAGE_MAX_BYTES, IMAGE_MIN_SIDE_PX, IMAGE_MAX_SIDE_PX = 30 * MB, 300, 6000
IMAGE_MIN_ASPECT, IMAGE_MAX_ASPECT = 0.4, 2.5
VIDEO_MIN_S, VIDEO_TOTAL_MIN_S, VIDEO_TOTAL_MAX_S = 2.0, 2.0, 15.0
VIDEO_TOTAL_MAX_BYTES = 50 * MB  # exclusive: the total must be below it
AUDIO_MAX_S, AUDIO_MAX_BYTES = 15.0, 15 * MB
UPLOAD_MAX_BYTES = 50 * MB  # one file sent to POST /v1/files/upload/* (spec §7)
MAX_BYTES: dict[MediaKind, int] = {"image": IMAGE_MAX_BYTES, "video": VIDEO_TOTAL_MAX_BYTES - 1,
                                   "audio": AUDIO_MAX_BYTES}


def format_mb(size_bytes: int) -> str:
    """A size in the unit the limits are stated in: `52000044` -> `52 MB`, `31_500_000` -> `31.5 MB`."""
    return f"{size_bytes / MB:.1f}".rstrip("0").rstrip(".") + " MB"


def size_over(size_bytes: int, max_bytes: int) -> str:
    """`'52 MB, over the 50 MB limit'`; in bytes where one decimal would show the size equal to the limit."""
    size, limit = format_mb(size_bytes), format_mb(max_bytes)
    if size == limit:  # "50 MB, over the 50 MB limit" would read as a contradiction
        size = f"{size_bytes:,} bytes"
    return f"{size}, over the {limit} limit"

# Lifetimes (defaults; the operator may change them through settings).
RESULT_TTL_S = 24 * 3600
UPLOAD_TTL_S = 72 * 3600
IDEMPOTENCY_TTL_S = 24 * 3600
# Draft → final (Seedance 2.5 on Ark: `draft: true`, then a final naming the draft): a draft renders at 480p
# and can be finalised for 7 days after it was created, as Ark keeps draft ids.
DRAFT_RESOLUTION = "480p"
DRAFT_TTL_S = 7 * 24 * 3600


@dataclass(frozen=True)
class Acceptance:
    """One way a deployment serves a model (an upstream behind it) and what a request must fit to go there.
    A `ModelOffer` with acceptances takes a request only when at least one of them does."""

    source: str  # who accepts, for the 422's message (e.g. "upstream h3-a")
    max_count: tuple[tuple[MediaKind, int], ...]
    max_references: int
    min_duration_s: int
    max_duration_s: int
    resolutions: tuple[str, ...]
    audio: bool

    def refusal(self, counts: dict[MediaKind, int], duration: int, resolution: str,
                generate_audio: bool) -> tuple[str, str] | None:
        """(field, why) of the first thing this way cannot honour, or None when it can take the request."""
        for kind, limit in self.max_count:
            if counts.get(kind, 0) > limit:
                return URL_FIELDS[kind], f"{URL_FIELDS[kind]} has {counts[kind]}, it takes at most {limit}"
        if sum(counts.values()) > self.max_references:
            return "image_urls", f"{sum(counts.values())} references, it takes at most {self.max_references}"
        if duration > 0 and not self.min_duration_s <= duration <= self.max_duration_s:
            return "duration", f"duration {duration}, it makes {self.min_duration_s}-{self.max_duration_s} s"
        if resolution not in self.resolutions:
            return "resolution", f"resolution {resolution}, it makes {', '.join(self.resolutions)}"
        if generate_audio and not self.audio:
            return "generate_audio", "generate_audio true, it makes no sound"
        return None


@dataclass(frozen=True)
class ModelOffer:
    """What this deployment serves for one model id: the engine behind it and what it honours. Built by the
    composition root from the engine registry and handed to the API, which never imports engines."""

    model: str
    engine: str
    resolutions: tuple[str, ...]
    supports_audio: bool
    details: dict[str, object] = field(default_factory=dict)  # engine-specific, shown by GET /v1/models
    # What `duration: -1` gives when a request has no video or audio reference (the compositor: 5 s), or None
    # when the engine decides otherwise; lets the credits of such a task be reserved exactly at submit.
    auto_duration_s: int | None = None
    makes: str = ""  # what the engine makes of this model's mode, in a sentence (`GET /v1/models`)
    placeholder: bool = False  # its output is a stand-in, not the video asked for (compositor text-to-video)
    # The upstreams behind the model and what each accepts (empty: the engine takes whatever the contract does).
    acceptances: tuple[Acceptance, ...] = ()
    max_duration_s: int = MAX_DURATION_S  # the model's longest output (its catalog entry's max_duration)
    task_types: tuple[str, ...] = ("auto", "reference")  # the `omni_reference_task_type`s its engine can do

    def reserved_seconds(self, duration: int, has_timed_references: bool) -> int:
        """Seconds of output to reserve credits for at submit: the duration asked for; for `duration: -1`
        what the engine will choose when that is known before the references are fetched, else the longest
        output (completion settles the reservation to the real length)."""
        if duration > 0:
            return duration
        if self.auto_duration_s is not None and not has_timed_references:
            return self.auto_duration_s
        return self.max_duration_s


def pixel_size(resolution: str, ratio: str) -> tuple[int, int]:
    """(width, height) of the output for a resolution and a concrete ratio (not `adaptive`)."""
    return SIZES[resolution][ratio]


# ---------------------------------------------------------------------------------------------------------
# The `@`-mention grammar: `@Image2`, `@video1`, `@AUDIO3`, and the Chinese forms FoxAPI clients display,
# `@图像2` / `@图片2`, `@视频1`, `@音频3`. The word matches in any case; the number follows it directly (no space:
# `@Image 2` is plain text). Numbers are 1-based as written; `Mention.index` is 0-based. A number too long to
# be a list position is kept as out of range (`MENTION_OUT_OF_RANGE`), never converted whole.

MENTION_WORDS: dict[str, MediaKind] = {"image": "image", "video": "video", "audio": "audio",
                                       "图像": "image", "图片": "image", "视频": "video", "音频": "audio"}
_MENTION = re.compile(r"@(image|video|audio|图像|图片|视频|音频)(\d+)", re.IGNORECASE)
_MAX_MENTION_DIGITS = 6
MENTION_OUT_OF_RANGE = 10**_MAX_MENTION_DIGITS


@dataclass(frozen=True)
class Mention:
    """One `@KindN` token: `number` as written (1-based), `index` = number - 1; `start`/`end` are character
    offsets in the prompt and `text` the token as written."""

    kind: MediaKind
    number: int
    start: int
    end: int
    text: str

    @property
    def index(self) -> int:
        return self.number - 1


def _mention_of(match: re.Match[str]) -> Mention:
    digits = match.group(2)
    number = int(digits) if len(digits) <= _MAX_MENTION_DIGITS else MENTION_OUT_OF_RANGE
    return Mention(MENTION_WORDS[match.group(1).lower()], number, match.start(), match.end(), match.group(0))


def find_mentions(prompt: str | None) -> list[Mention]:
    """Every mention token in prompt order (duplicates and out-of-range numbers kept; callers decide)."""
    return [_mention_of(match) for match in _MENTION.finditer(prompt or "")]


def replace_mentions(prompt: str, name: Callable[[Mention], str]) -> str:
    """The prompt with each mention replaced by `name(mention)` (engines rewrite them for their models)."""
    return _MENTION.sub(lambda match: name(_mention_of(match)), prompt)


# ---------------------------------------------------------------------------------------------------------
# Ark dialect (ByteDance's own wire at /api/v3/contents/generations/tasks; spec §9). Appended by the Ark
# dialect's owner: the model ids BytePlus ModelArk and Volcengine Ark publish for Seedance 2.0, the model of
# ours each one means, and the statuses of Ark's task object. The relay sends the same ids upstream.

ARK_FRAME_ROLES = ("first_frame", "last_frame")  # image_url roles of Ark's image-to-video (first/last frame)

ArkStatus = Literal["queued", "running", "succeeded", "failed", "cancelled", "expired"]
ARK_STATUSES: tuple[ArkStatus, ...] = ("queued", "running", "succeeded", "failed", "cancelled", "expired")
ARK_ROLES: dict[str, tuple[str, ...]] = {  # content item type → the roles Ark documents for it
    "image_url": ("first_frame", "last_frame", "reference_image"),
    "video_url": ("reference_video",),
    "audio_url": ("reference_audio",),
}
ARK_MAX_PAGE_SIZE = 500  # list: page_num and page_size are 1–500
ARK_DEFAULT_PAGE_SIZE = 10
ARK_LIST_WINDOW_S = 7 * 86400  # list shows the tasks of the last 7 days, as Ark does
ARK_PIXELS_PER_TOKEN = 1024  # usage: width × height × frames / 1024 tokens, the rule Ark bills video by


# ---------------------------------------------------------------------------------------------------------
# OpenAI `/v1/videos` dialect (the shape OpenAI's video API defined and SGLang, vLLM-Omni and LiteLLM serve;
# spec §10). A request without `model` gets `DEFAULT_MODEL`'s line in the mode its inputs ask for
# (`Catalog.sibling`): a prompt alone cannot go to a reference-to-video model.

OpenAIStatus = Literal["queued", "in_progress", "completed", "failed"]
OPENAI_STATUSES: tuple[OpenAIStatus, ...] = ("queued", "in_progress", "completed", "failed")
OPENAI_DEFAULT_SECONDS = 4  # what OpenAI's API and the SDK document when `seconds` is left out
OPENAI_VARIANTS = ("video", "thumbnail")  # GET /v1/videos/{id}/content?variant= (no spritesheet here)
OPENAI_MAX_PAGE_SIZE = 100
OPENAI_DEFAULT_PAGE_SIZE = 20
# `openai-poll-after-ms`: a tenth of the estimated time left, within these bounds.
OPENAI_POLL_MIN_MS, OPENAI_POLL_MAX_MS = 500, 5000


def size_name(width: int, height: int) -> str:
    """`WxH`, the OpenAI dialect's name of an output size."""
    return f"{width}x{height}"


def sizes_of(resolutions: tuple[str, ...]) -> dict[str, tuple[str, str]]:
    """Every `WxH` size the pixel-size table gives these resolutions → (resolution, ratio)."""
    return {size_name(*SIZES[resolution][ratio]): (resolution, ratio)
            for resolution in resolutions for ratio in RATIOS}
