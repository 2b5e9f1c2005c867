"""The wire's facts, stated once (spec `docs/api.md`): model ids and their families, resolutions, ratios, the
pixel-size table, durations, reference limits, TTL defaults and the one `@`-mention grammar.

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
Tier = Literal["standard", "fast"]


@dataclass(frozen=True)
class ModelId:
    """One model id of the FoxAPI dialect: what it takes (`mode`) and which tier it is."""

    id: str
    mode: Mode
    tier: Tier


REFERENCE_MODEL = "seedance-2.0-reference-to-video"
FAST_REFERENCE_MODEL = "seedance-2.0-fast-reference-to-video"
IMAGE_MODEL = "seedance-2.0-image-to-video"  # FoxAPI's siblings: `image_url` (+ `end_image_url`) frames
FAST_IMAGE_MODEL = "seedance-2.0-fast-image-to-video"
TEXT_MODEL = "seedance-2.0-text-to-video"  # the prompt alone
FAST_TEXT_MODEL = "seedance-2.0-fast-text-to-video"
MODEL_IDS: tuple[ModelId, ...] = (
    ModelId(REFERENCE_MODEL, "reference", "standard"),
    ModelId(FAST_REFERENCE_MODEL, "reference", "fast"),
    ModelId(IMAGE_MODEL, "image", "standard"),
    ModelId(FAST_IMAGE_MODEL, "image", "fast"),
    ModelId(TEXT_MODEL, "text", "standard"),
    ModelId(FAST_TEXT_MODEL, "text", "fast"),
)
MODELS: dict[str, ModelId] = {model.id: model for model in MODEL_IDS}
MODES: tuple[Mode, ...] = ("reference", "image", "text")
# What each mode takes besides the common fields (resolution, ratio, duration, generate_audio, seed,
# callback_url): `required` must be sent, `optional` may be; every other input field is refused naming it.
COMMON_INPUTS = ("model", "resolution", "ratio", "aspect_ratio", "duration", "generate_audio", "seed",
                 "callback_url")
FRAME_FIELDS = ("image_url", "end_image_url")  # image-to-video: first frame, optional last frame
MODE_INPUTS: dict[Mode, dict[str, tuple[str, ...]]] = {
    "reference": {"required": ("prompt",), "optional": ("image_urls", "video_urls", "audio_urls")},
    "image": {"required": ("image_url",), "optional": ("end_image_url", "prompt")},
    "text": {"required": ("prompt",), "optional": ()},
}
DEFAULT_MODEL = REFERENCE_MODEL
STANDARD_MODELS = frozenset(model.id for model in MODEL_IDS if model.tier == "standard")

# Output: resolution × ratio → exact pixel size; 24 fps; duration × 24 frames.
FPS = 24
RESOLUTIONS = ("480p", "720p", "1080p")
STANDARD_ONLY_RESOLUTIONS = frozenset({"1080p"})  # 1080p only on standard (non-fast) models
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
RANDOM_SEED = -1
MAX_SEED = 2_147_483_647

# References (spec §3). MB means 2**20 bytes.
MB = 2**20
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

# Lifetimes (defaults; the operator may change them through settings).
RESULT_TTL_S = 24 * 3600
UPLOAD_TTL_S = 72 * 3600
IDEMPOTENCY_TTL_S = 24 * 3600


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
    # The upstreams behind the model and what each accepts (empty: the engine takes whatever the contract does).
    acceptances: tuple[Acceptance, ...] = ()

    def reserved_seconds(self, duration: int, has_timed_references: bool) -> int:
        """Seconds of output to reserve credits for at submit: the duration asked for; for `duration: -1`
        what the engine will choose when that is known before the references are fetched, else the longest
        output (completion settles the reservation to the real length)."""
        if duration > 0:
            return duration
        if self.auto_duration_s is not None and not has_timed_references:
            return self.auto_duration_s
        return MAX_DURATION_S


def mode_of(model: str) -> Mode:
    """What a model id takes; ids that are not ours (a plugin's) are reference models."""
    known = MODELS.get(model)
    return known.mode if known else "reference"


def sibling(model: str, mode: Mode) -> str:
    """The model id of the same tier as `model` that takes `mode` (Ark's ids serve every mode; ours do not)."""
    tier = MODELS[model].tier if model in MODELS else "standard"
    return next(m.id for m in MODEL_IDS if m.tier == tier and m.mode == mode)


def pixel_size(resolution: str, ratio: str) -> tuple[int, int]:
    """(width, height) of the output for a resolution and a concrete ratio (not `adaptive`)."""
    return SIZES[resolution][ratio]


def resolutions_for_model(model: str, engine_resolutions: tuple[str, ...]) -> tuple[str, ...]:
    """The resolutions a model offers on an engine: standard-only ones (1080p) only on standard models."""
    return tuple(r for r in engine_resolutions if r not in STANDARD_ONLY_RESOLUTIONS or model in STANDARD_MODELS)


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

BYTEPLUS_ARK_MODELS: dict[str, str] = {  # ours → BytePlus ModelArk's
    REFERENCE_MODEL: "dreamina-seedance-2-0-260128",
    FAST_REFERENCE_MODEL: "dreamina-seedance-2-0-fast-260128",
}
VOLCENGINE_ARK_MODELS: dict[str, str] = {  # ours → Volcengine Ark's
    REFERENCE_MODEL: "doubao-seedance-2-0-260128",
    FAST_REFERENCE_MODEL: "doubao-seedance-2-0-fast-260128",
}
ARK_MODELS: dict[str, str] = {  # an Ark model id → the (reference) model of ours that serves it
    ark_id: ours for table in (BYTEPLUS_ARK_MODELS, VOLCENGINE_ARK_MODELS) for ours, ark_id in table.items()
}
ARK_FRAME_ROLES = ("first_frame", "last_frame")  # image_url roles of Ark's image-to-video (first/last frame)


def ark_model_id(table: dict[str, str], model: str) -> str | None:
    """The Ark id serving one of our models in a region's table: one Ark id per tier serves all three modes."""
    if model in table or model not in MODELS:
        return table.get(model)
    return table.get(sibling(model, "reference"))
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
