"""Ark's wire models (BytePlus ModelArk / Volcengine Ark "Create a video generation task", "Retrieve",
"List"), as the official SDK (`volcengine-ark-runtime`) sends and reads them.

The SDK sends every parameter of `tasks.create` on every call, `null` when the caller left it out, so every
optional field here accepts `null` as "not given". Types are strict (Ark answers 400 for `"5"` as a duration),
unknown fields are refused (Ark answers 400 InvalidParameter). Ranges and choices are checked by the same
rules as the FoxAPI dialect (`refvid.api.ark.mapping`), not restated here.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr

from refvid.api.schemas import MadeBy
from refvid.contract import ArkStatus


class ArkMediaUrl(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: StrictStr = Field(description="http(s) URL, base64 data: URL, or a URL of a refvid upload.")


class ArkDraftTask(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: StrictStr = Field(description="The id of a draft task (created with `draft: true`) of the same key.")


class ArkContentItem(BaseModel):
    """One `content` item: `{"type": "text", "text"}`, `{"type": "<kind>_url", "<kind>_url": {"url"}, "role"}`
    or a final's `{"type": "draft_task", "draft_task": {"id"}}`. Which fields each type needs is checked by the
    mapping, which names the item in its error."""

    model_config = ConfigDict(extra="forbid")
    type: StrictStr
    text: StrictStr | None = None
    image_url: ArkMediaUrl | None = None
    video_url: ArkMediaUrl | None = None
    audio_url: ArkMediaUrl | None = None
    role: StrictStr | None = None
    draft_task: ArkDraftTask | None = None


class ArkCreateRequest(BaseModel):
    """POST /api/v3/contents/generations/tasks."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "model": "dreamina-seedance-2-0-260128",
        "content": [{"type": "text", "text": "@Image1 walks through the rain to the beat of @Audio1"},
                    {"type": "image_url", "image_url": {"url": "https://example.com/a.png"},
                     "role": "reference_image"},
                    {"type": "audio_url", "audio_url": {"url": "https://example.com/a.mp3"},
                     "role": "reference_audio"}],
        "resolution": "720p", "ratio": "16:9", "duration": 5, "generate_audio": True}]})

    model: StrictStr = Field(description="An Ark model id (dreamina-/doubao-seedance-2-0-…) or one of refvid's.")
    content: list[ArkContentItem] = Field(description="One text item and the references, each with its role.")
    resolution: StrictStr | None = None
    ratio: StrictStr | None = None
    duration: StrictInt | None = None
    seed: StrictInt | None = None
    generate_audio: StrictBool | None = None
    callback_url: StrictStr | None = None
    return_last_frame: StrictBool | None = None
    camera_fixed: StrictBool | None = None
    watermark: StrictBool | None = Field(None, description="refvid's engines never watermark; the relay passes it "
                                                           "on to Ark.")
    # The queue (docs/ark.md): flex waits behind the key's default tier, priority orders within a key, and a task
    # not finished by its deadline ends `expired`; the safety identifier is stored, echoed and relayed.
    service_tier: StrictStr | None = Field(None, description="`default` or `flex`.")
    execution_expires_after: StrictInt | None = Field(None, description="3600–259200 seconds (default 172800).")
    priority: StrictInt | None = Field(None, description="0–9; higher first within a key.")
    safety_identifier: StrictStr | None = Field(None, max_length=256)
    draft: StrictBool | None = Field(None, description="A 480p preview that a final (a `draft_task` item) "
                                     "re-renders at the final resolution; on models with drafts.")
    # Ark features refvid does not offer: only their "off" values are accepted.
    frames: StrictInt | None = None
    tools: list[dict[str, Any]] | None = None
    # Seedance 2.5's, untyped in the SDKs (sent through `extra_body`); checked by the shared rules.
    output_format: StrictStr | None = Field(None, description="mp4 (default) or mov, where the model offers it.")
    omni_reference_task_type: StrictStr | None = Field(
        None, description="auto | reference | edit | extend (edit/extend rework a reference_video).")


class ArkTaskId(BaseModel):
    id: str


class ArkTaskError(BaseModel):
    code: str
    message: str


class ArkTaskContent(MadeBy):
    video_url: str = Field(description="Signed MP4 URL: no Authorization header, valid 24 h after completion.")
    last_frame_url: str | None = Field(None, description="Signed PNG of the last frame (return_last_frame).")


class ArkUsage(BaseModel):
    completion_tokens: int = Field(description="width × height × frames / 1024 of the output.")
    total_tokens: int


class ArkTask(BaseModel):
    """The task object of Ark's Retrieve and List, for tasks created in either dialect."""

    id: str
    model: str = Field(description="The model id as the task was created with.")
    status: ArkStatus
    error: ArkTaskError | None = None
    content: ArkTaskContent | None = None
    usage: ArkUsage | None = None
    created_at: int
    updated_at: int
    seed: int | None = Field(None, description="The seed used (known once the task has started).")
    resolution: str
    ratio: str = Field(description="The output's ratio once known; `adaptive` until then if asked for.")
    duration: int
    framespersecond: int
    generate_audio: bool
    service_tier: str = Field("default", description="`default` or `flex`, as the task was created.")
    execution_expires_after: int = Field(description="Seconds after creation at which an unfinished task ends "
                                                     "`expired` (the server's pending deadline when not asked).")
    priority: int = Field(0, description="0–9, as the task was created; higher runs first within a key.")
    safety_identifier: str | None = Field(None, description="As the task was created.")
    draft: bool = False
    draft_task_id: str | None = Field(None, description="A final's draft: the task it re-rendered.")
    fileformat: str = Field("mp4", description="The video's container: mp4, or mov when output_format asked.")


class ArkTaskList(BaseModel):
    items: list[ArkTask]
    total: int = Field(description="How many tasks match the filter (all pages).")


class ArkErrorDetail(BaseModel):
    code: str = Field(description="Ark's error code: InvalidParameter, MissingParameter, ResourceNotFound, …")
    message: str
    param: str = Field(description="The parameter at fault as the client sent it (`content[1].role`), or ''.")
    type: str = Field(description="Ark's error type: BadRequest, Unauthorized, NotFound, …")


class ArkErrorResponse(BaseModel):
    error: ArkErrorDetail


def inline_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The model's JSON schema with its `$defs` inlined, for routes that read their body themselves (to count
    its bytes) and so document it through `openapi_extra`, where a `$ref` to `$defs` could not resolve."""
    schema = model.model_json_schema()
    defs: dict[str, Any] = schema.pop("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return resolve(defs[ref.removeprefix("#/$defs/")])
            return {key: resolve(value) for key, value in node.items()}
        if isinstance(node, list):
            return [resolve(item) for item in node]
        return node

    inlined: dict[str, Any] = resolve(schema)
    return inlined
