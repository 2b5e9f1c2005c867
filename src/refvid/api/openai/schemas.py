"""The `/v1/videos` wire models, as the `openai` SDK (`client.videos`) sends and reads them.

The create request is validated after the form is read (`api/openai/form.py`), so a multipart body and a JSON
body meet the same model: types are strict (a multipart form's `seed` and `generate_audio` are converted from
their text first), unknown fields are refused naming them. Ranges and choices are the FoxAPI dialect's rules,
applied by `api/openai/mapping.py`, not restated here.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, StrictBool, StrictInt, StrictStr, field_validator
from pydantic_core import PydanticCustomError

from refvid.api.schemas import MadeBy
from refvid.contract import OPENAI_DEFAULT_SECONDS, OpenAIStatus


class InputReference(BaseModel):
    """`input_reference` as an object (JSON, or the form fields `input_reference[image_url]`)."""

    model_config = ConfigDict(extra="forbid")
    image_url: StrictStr | None = Field(None, description="http(s) URL, data: URL or a refvid upload's URL.")
    file_id: StrictStr | None = Field(None, description="Not offered: send the upload's `url` as image_url.")


class OpenAICreateRequest(BaseModel):
    """POST /v1/videos: OpenAI's fields, and refvid's as extra fields (`extra_body` in the SDK)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "model": "seedance-2.0-fast-text-to-video", "prompt": "A paper boat drifts down a rainy street",
        "seconds": "4", "size": "1280x720"}]})

    prompt: StrictStr = Field(description="What to render; mention references as @Image1, @Video1, @Audio1.")
    model: StrictStr | None = Field(None, description="A model id of GET /v1/models; default: the standard "
                                                      "tier, text-to-video without references, else "
                                                      "reference-to-video.")
    seconds: str | int | None = Field(None, description=f"Whole seconds as a string, like \"4\" (default "
                                                        f"{OPENAI_DEFAULT_SECONDS}); a JSON integer is taken too.")
    size: StrictStr | None = Field(None, description="`WxH`, one of the model's resolution × ratio sizes.")
    input_reference: InputReference | None = Field(
        None, description="A file (multipart) or {image_url}: becomes @Image1 (a first frame on image-to-video).")
    image_urls: list[StrictStr] | None = None
    video_urls: list[StrictStr] | None = None
    audio_urls: list[StrictStr] | None = None
    resolution: StrictStr | None = None
    ratio: StrictStr | None = None
    generate_audio: StrictBool | None = None
    seed: StrictInt | None = None


    @field_validator("seconds", mode="before")
    @classmethod
    def _seconds_type(cls, value: Any) -> Any:
        """A string or an integer, named as `seconds` (a plain union would name its members: `seconds.str`)."""
        if value is None or (isinstance(value, str | int) and not isinstance(value, bool)):
            return value
        raise PydanticCustomError("invalid_seconds", 'seconds must be a string of whole seconds, like "4"')


class OpenAIVideoError(BaseModel):
    code: str
    message: str


class OpenAIVideo(MadeBy):
    """The video job, for tasks created in any dialect; a completed one adds the `MadeBy` fields (which engine
    made it and whether it is a placeholder), which the `openai` SDK keeps as extra fields."""

    id: str
    object: Literal["video"] = "video"
    model: str = Field(description="The model id the task was created with.")
    status: OpenAIStatus
    progress: int = Field(ge=0, le=100)
    created_at: int
    completed_at: int | None = None
    expires_at: int | None = Field(None, description="When the result's files are deleted.")
    prompt: str | None = None
    remixed_from_video_id: str | None = None
    seconds: str = Field(description="Seconds of output (the result's once known; `-1` = the engine decides).")
    size: str = Field(description="`WxH` once known; `adaptive` while a reference's shape has yet to decide.")
    error: OpenAIVideoError | None = None
    _poll_after_ms: int | None = PrivateAttr(None)  # the `openai-poll-after-ms` header while it is unfinished


class OpenAIVideoList(BaseModel):
    object: Literal["list"] = "list"
    data: list[OpenAIVideo]
    first_id: str | None = None
    last_id: str | None = None
    has_more: bool


class OpenAIVideoDeleted(BaseModel):
    id: str
    object: Literal["video.deleted"] = "video.deleted"
    deleted: bool = True


class OpenAIErrorDetail(BaseModel):
    message: str
    type: str = Field(description="invalid_request_error, insufficient_quota, rate_limit_error, server_error")
    param: str | None = Field(None, description="The field at fault as the client sent it (`seconds`).")
    code: str | None = None


class OpenAIErrorResponse(BaseModel):
    error: OpenAIErrorDetail
