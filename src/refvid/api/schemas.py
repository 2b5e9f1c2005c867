"""Wire models (spec §3–§7). Requests forbid unknown fields; responses mirror FoxAPI's shapes.

Field-level rules live here as validators that raise `PydanticCustomError(code, message)`, so the error
handler can answer with the field (`param`), a stable `code` and a sentence naming the rule.
Cross-field rules (references vs prompt mentions, model capabilities) live in `api/validation.py`.
Every fact (choices, ranges, defaults, limits) is `refvid.contract`'s; this module imports nothing else of
ours, so the client can share it. Choice fields are strings checked against the contract's tuples and
documented as the same `enum` a `Literal` would give, so the OpenAPI document and the error codes
(`invalid_<field>`) stay as they were while the choices are stated once.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, WithJsonSchema, field_validator, model_validator
from pydantic_core import PydanticCustomError

from refvid.contract import (
    ADAPTIVE,
    AUTO_DURATION,
    DEFAULT_DURATION_S,
    DEFAULT_PRIORITY,
    DEFAULT_RESOLUTION,
    DEFAULT_SERVICE_TIER,
    DRAFT_RESOLUTION,
    MAX_COUNT,
    MAX_DURATION_S,
    MAX_EXPIRES_AFTER_S,
    MAX_PRIORITY,
    MAX_PROMPT_CHARS,
    MAX_SEED,
    MIN_DURATION_S,
    MIN_EXPIRES_AFTER_S,
    MIN_PRIORITY,
    OUTPUT_FORMATS,
    RANDOM_SEED,
    RATIOS,
    REFERENCE_MODEL,
    RESOLUTIONS,
    SERVICE_TIERS,
    TASK_TYPES,
)

MAX_URL_CHARS = 4096
_DATA_URL = re.compile(r"^data:[\w.+-]+/[\w.+-]+(;[\w.+-]+=[\w.+-]+)*;base64,[A-Za-z0-9+/=\s]*$", re.ASCII)
_HTTP_URL = re.compile(r"^https?://[^\s/?#]+[^\s]*$", re.IGNORECASE)


def _one_of(choices: tuple[str, ...]) -> Callable[[str], str]:
    """A check that the string is one of `choices`, failing with the error a `Literal` would give."""

    def check(value: str) -> str:
        if value not in choices:
            expected = ", ".join(repr(c) for c in choices[:-1]) + f" or {choices[-1]!r}"
            raise PydanticCustomError("literal_error", "Input should be {expected}", {"expected": expected})
        return value

    return check


def _enum(choices: tuple[str, ...]) -> WithJsonSchema:
    """The schema a `Literal` of `choices` would have."""
    return WithJsonSchema({"enum": list(choices), "type": "string"})


RATIO_CHOICES = (*RATIOS, ADAPTIVE)
Resolution = Annotated[str, AfterValidator(_one_of(RESOLUTIONS)), _enum(RESOLUTIONS)]
RatioChoice = Annotated[str, AfterValidator(_one_of(RATIO_CHOICES)), _enum(RATIO_CHOICES)]
OutputFormatChoice = Annotated[str, AfterValidator(_one_of(OUTPUT_FORMATS)), _enum(OUTPUT_FORMATS)]
TaskTypeChoice = Annotated[str, AfterValidator(_one_of(TASK_TYPES)), _enum(TASK_TYPES)]


def _reject_bool(value: Any, field: str) -> Any:
    if isinstance(value, bool):
        raise PydanticCustomError(f"invalid_{field}", f"{field} must be an integer, not a boolean")
    return value


def check_reference_url(url: str, field: str) -> None:
    """Syntax only: http(s) URLs (checked for safety when fetched), data: URLs (base64) or our uploads."""
    code, where = f"invalid_{field.split('[')[0]}", {"param": field}
    if url.startswith("data:"):
        if not _DATA_URL.match(url[:256] + ("" if len(url) <= 256 else "A")):
            raise PydanticCustomError(code, f"{field}: data: URLs must be base64 (data:<type>;base64,…)", where)
        return
    if len(url) > MAX_URL_CHARS:
        raise PydanticCustomError(code, f"{field}: URL longer than {MAX_URL_CHARS} characters", where)
    if not _HTTP_URL.match(url):
        raise PydanticCustomError(
            code, f"{field}: must be an http(s):// URL, a data: URL or an uploaded file URL", where)


class CreateVideoRequest(BaseModel):
    """POST /v1/videos/generations. Which inputs a model takes (`*_urls` lists, `image_url` frames, the
    prompt alone) is its mode's rule, checked in `api/validation.py`."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "model": REFERENCE_MODEL,
        "prompt": "@Image1 walks through the rain, camera moves like @Video1, mood of @Audio1",
        "image_urls": ["https://example.com/character.jpg"], "video_urls": ["https://example.com/motion.mp4"],
        "audio_urls": ["https://example.com/music.mp3"], "ratio": "adaptive", "duration": -1,
        "generate_audio": True}]})

    model: str = Field(description="Model id, see GET /v1/models.")
    prompt: str | None = Field(None, description=f"1–{MAX_PROMPT_CHARS} characters; mention references as "
                                                 "@Image1, @Video1, @Audio1.")
    resolution: Resolution = Field(DEFAULT_RESOLUTION, description="1080p only on standard models.")
    ratio: RatioChoice | None = Field(None, description="Output aspect ratio (default adaptive).")
    aspect_ratio: RatioChoice | None = Field(
        None, description="Alias of ratio; must agree with ratio when both are sent.")
    duration: int = Field(DEFAULT_DURATION_S, description=f"Seconds, {MIN_DURATION_S}–{MAX_DURATION_S} on 2.0 "
                                                          f"models (each model's range: GET /v1/models), or "
                                                          f"{AUTO_DURATION} to let the engine decide.")
    generate_audio: bool = Field(True, description="Synchronized audio track in the output iff true.")
    seed: int = Field(RANDOM_SEED, description=f"{RANDOM_SEED} = random (reported in results); else 0–{MAX_SEED}.")
    image_urls: list[str] = Field(default_factory=list, description=f"Up to {MAX_COUNT['image']} images "
                                                                    f"(@Image1..@Image{MAX_COUNT['image']}) on 2.0 "
                                                                    "models; each model's limit: GET /v1/models.")
    video_urls: list[str] = Field(default_factory=list, description=f"Up to {MAX_COUNT['video']} videos "
                                                                    f"(@Video1..@Video{MAX_COUNT['video']}).")
    audio_urls: list[str] = Field(default_factory=list, description=f"Up to {MAX_COUNT['audio']} audio clips "
                                                                    f"(@Audio1..@Audio{MAX_COUNT['audio']}).")
    image_url: str | None = Field(None, description="Image-to-video models: the first frame (required there).")
    end_image_url: str | None = Field(None, description="Image-to-video models: the last frame (optional).")
    callback_url: str | None = Field(None, description="Webhook receiving status changes (Standard Webhooks).")
    draft: bool = Field(False, description=f"Extension (models with draft support): a {DRAFT_RESOLUTION} preview "
                                           "whose task id a final names in draft_task_id.")
    draft_task_id: str | None = Field(None, description="Extension: the final of this draft (a task of yours, "
                                      "at most 7 days old): its prompt, references, duration, ratio, audio setting "
                                      "and seed, rendered at this request's resolution.")
    # Ark's queue parameters, taken here as extension fields (docs/api.md "Queue order and deadlines").
    service_tier: str = Field(DEFAULT_SERVICE_TIER, description="Extension: `default` or `flex`; a flex task "
                                                                "waits behind this key's default-tier tasks.")
    execution_expires_after: int | None = Field(
        None, description=f"Extension: {MIN_EXPIRES_AFTER_S}–{MAX_EXPIRES_AFTER_S} seconds; a task not finished "
                          "that long after its creation fails with code `expired` and its credits are released.")
    priority: int = Field(DEFAULT_PRIORITY, description=f"Extension: {MIN_PRIORITY}–{MAX_PRIORITY}; higher runs "
                                                        "first among this key's tasks of one tier.")
    output_format: OutputFormatChoice | None = Field(
        None, description="Extension (Ark's field): the result's container, mp4 (default) or mov, where the "
        "model offers it (its output_formats in GET /v1/models).")
    omni_reference_task_type: TaskTypeChoice | None = Field(
        None, description="Extension (Ark's field, Seedance 2.5): auto (default) or reference make a video from "
        "the references; edit reworks @Video1 (ratio adaptive, duration -1), extend continues it (ratio "
        "adaptive). Which a model takes: its task_types in GET /v1/models.")

    @field_validator("prompt")
    @classmethod
    def _prompt(cls, value: str | None) -> str | None:
        if value is None:
            return value
        if not value.strip():
            raise PydanticCustomError("invalid_prompt", "prompt must not be empty")
        if len(value) > MAX_PROMPT_CHARS:
            raise PydanticCustomError(
                "invalid_prompt", f"prompt is {len(value)} characters; the limit is {MAX_PROMPT_CHARS}")
        return value

    @field_validator("duration", mode="before")
    @classmethod
    def _duration_type(cls, value: Any) -> Any:
        return _reject_bool(value, "duration")

    @field_validator("duration")
    @classmethod
    def _duration(cls, value: int) -> int:
        """The grammar only: each model's range is its catalog entry's, checked in `api/validation.py`."""
        if value != AUTO_DURATION and value < 1:
            raise PydanticCustomError("invalid_duration", f"duration must be a whole number of seconds or "
                                      f"{AUTO_DURATION} (got {value})")
        return value

    @field_validator("seed", mode="before")
    @classmethod
    def _seed_type(cls, value: Any) -> Any:
        return _reject_bool(value, "seed")

    @field_validator("seed")
    @classmethod
    def _seed(cls, value: int) -> int:
        if value != RANDOM_SEED and not 0 <= value <= MAX_SEED:
            raise PydanticCustomError("invalid_seed", f"seed must be {RANDOM_SEED} or 0–{MAX_SEED} (got {value})")
        return value

    @field_validator("service_tier")
    @classmethod
    def _service_tier(cls, value: str) -> str:
        if value not in SERVICE_TIERS:
            raise PydanticCustomError("invalid_service_tier", f"service_tier must be one of "
                                      f"{', '.join(SERVICE_TIERS)} (got {value[:40]!r})")
        return value

    @field_validator("execution_expires_after", "priority", mode="before")
    @classmethod
    def _queue_int_type(cls, value: Any, info: Any) -> Any:
        return _reject_bool(value, str(info.field_name))

    @field_validator("execution_expires_after")
    @classmethod
    def _expires_after(cls, value: int | None) -> int | None:
        if value is not None and not MIN_EXPIRES_AFTER_S <= value <= MAX_EXPIRES_AFTER_S:
            raise PydanticCustomError("invalid_execution_expires_after", f"execution_expires_after must be "
                                      f"{MIN_EXPIRES_AFTER_S}–{MAX_EXPIRES_AFTER_S} seconds (got {value})")
        return value

    @field_validator("priority")
    @classmethod
    def _priority(cls, value: int) -> int:
        if not MIN_PRIORITY <= value <= MAX_PRIORITY:
            raise PydanticCustomError("invalid_priority", f"priority must be {MIN_PRIORITY}–{MAX_PRIORITY} "
                                      f"(got {value})")
        return value

    @field_validator("image_urls", "video_urls", "audio_urls")
    @classmethod
    def _urls(cls, value: list[str], info: Any) -> list[str]:
        for index, url in enumerate(value):
            check_reference_url(url, f"{info.field_name}[{index}]")
        return value

    @field_validator("image_url", "end_image_url")
    @classmethod
    def _frame_url(cls, value: str | None, info: Any) -> str | None:
        if value is not None:
            check_reference_url(value, str(info.field_name))
        return value

    @field_validator("callback_url")
    @classmethod
    def _callback(cls, value: str | None) -> str | None:
        if value is not None and (len(value) > MAX_URL_CHARS or not _HTTP_URL.match(value)):
            raise PydanticCustomError("invalid_callback_url", "callback_url must be an http(s):// URL")
        return value

    @model_validator(mode="after")
    def _draft(self) -> CreateVideoRequest:
        """A draft renders at the draft resolution, which is its default; it cannot also be a final."""
        if not self.draft:
            return self
        if self.draft_task_id is not None:
            raise PydanticCustomError("invalid_draft", "a request is a draft (draft: true) or the final of one "
                                      "(draft_task_id), not both", {"param": "draft"})
        if "resolution" not in self.model_fields_set:
            self.resolution = DRAFT_RESOLUTION
        elif self.resolution != DRAFT_RESOLUTION:
            raise PydanticCustomError("invalid_resolution", "a draft renders at {draft}; send resolution {draft} or "
                                      "leave it out (got {got})", {"draft": DRAFT_RESOLUTION, "got": self.resolution,
                                                                   "param": "resolution"})
        return self

    @property
    def effective_ratio(self) -> str:
        return self.ratio or self.aspect_ratio or ADAPTIVE


class TaskInfo(BaseModel):
    can_cancel: bool
    estimated_time: int = Field(description="Predicted seconds until completion.")


class MadeBy(BaseModel):
    """Extension fields of a finished task's result (FoxAPI `results[0]`, Ark `content`): which engine made
    the video and what it is. Clients written for FoxAPI or Ark ignore them."""

    engine: str | None = Field(None, description="The engine that made the video: compositor, diffusion, relay, …")
    placeholder: bool = Field(False, description="True when the picture is a stand-in, not the video asked for: "
                              "the compositor's text-to-video title card.")
    made: str | None = Field(None, description="What the engine made, in a sentence.")


class VideoResult(MadeBy):
    url: str = Field(description="Signed URL, no auth header needed, valid 24 h after completion, Range-capable.")
    seed: int
    width: int
    height: int
    duration: int = Field(description="Seconds of output.")
    fps: int
    has_audio: bool
    thumbnail_url: str | None = None
    steps: int | None = Field(None, description="Denoising steps (diffusion engine only).")


class TaskErrorBody(BaseModel):
    code: str
    message: str
    type: Literal["task_error"] = "task_error"


class Usage(BaseModel):
    credits_reserved: int
    user_group: str = "default"


class TaskObject(BaseModel):
    id: str
    object: Literal["video.generation.task"] = "video.generation.task"
    type: Literal["video"] = "video"
    model: str
    status: Literal["pending", "processing", "completed", "failed", "cancelled"]
    progress: int = Field(ge=0, le=100)
    created: int
    task_info: TaskInfo
    results: list[VideoResult] | None = None
    error: TaskErrorBody | None = None
    usage: Usage


class TaskList(BaseModel):
    object: Literal["list"] = "list"
    data: list[TaskObject]
    has_more: bool
    last_id: str | None = None


class TaskDeleted(BaseModel):
    id: str
    object: Literal["video.generation.task.deleted"] = "video.generation.task.deleted"
    deleted: bool = True


class ModelObject(BaseModel):
    id: str
    object: Literal["model"] = "model"
    engine: str
    resolutions: list[str]
    supports_audio: bool
    mode: Literal["reference", "image", "text"] | None = Field(
        None, description="Extension: reference-to-video, image-to-video or text-to-video.")
    required: list[str] | None = Field(None, description="Extension: input fields this model requires.")
    accepts: list[str] | None = Field(
        None, description="Extension: every request field this model accepts (others are a 422 naming them).")
    details: dict[str, Any] | None = Field(
        None, description="Extension: engine-specific, e.g. the diffusion adapters and weights folders behind "
        "the model, what each accepts and its licence.")
    makes: str | None = Field(None, description="Extension: what the serving engine makes for this model, "
                              "in a sentence (the compositor composites, the diffusion engine generates).")
    placeholder: bool = Field(False, description="Extension: true when the serving engine's output for this "
                              "model is a stand-in, not the video asked for (the compositor's text-to-video "
                              "title card).")
    limits: dict[str, Any] | None = Field(
        None, description="Extension: the model's catalog limits (docs/models.md): tier, max_images, max_videos, "
        "max_audios, max_references, audio_only, min_duration, max_duration, auto_duration, ratios, "
        "output_formats, draft, ark_ids.")


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelObject]


class ErrorDetail(BaseModel):
    message: str
    type: str
    code: str | None = None
    param: str | None = None


class ErrorResponse(BaseModel):
    error: ErrorDetail


class UploadBase64Request(BaseModel):
    model_config = ConfigDict(extra="forbid")
    file_data: str = Field(description="Base64 bytes, or a data: URL.")
    file_name: str | None = None
    auto_cleanup: bool | None = None


class UploadUrlRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: str
    file_name: str | None = None
    auto_cleanup: bool | None = None


class FileObject(BaseModel):
    id: str
    object: Literal["file"] = "file"
    filename: str
    url: str
    size: int
    created: int
    expires_at: int

