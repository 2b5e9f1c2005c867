"""The task: what was asked, where it stands, and what came out."""

from __future__ import annotations

import secrets
import string
import time
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any


class TaskStatus(StrEnum):
    PENDING = "pending"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    def is_terminal(self) -> bool:
        return self in (TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.CANCELLED)


# Legal transitions; the store enforces them in its WHERE clauses, this table documents and tests them.
TRANSITIONS: dict[TaskStatus, frozenset[TaskStatus]] = {
    TaskStatus.PENDING: frozenset({TaskStatus.PROCESSING, TaskStatus.CANCELLED, TaskStatus.FAILED}),
    TaskStatus.PROCESSING: frozenset(
        {TaskStatus.PENDING, TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.CANCELLED}
    ),
    TaskStatus.COMPLETED: frozenset(),
    TaskStatus.FAILED: frozenset(),
    TaskStatus.CANCELLED: frozenset(),
}

_ID_ALPHABET = string.ascii_lowercase + string.digits
#: the creating wire's options a provider takes as they were asked (`TaskSpec.passthrough`)
PROVIDER_OPTIONS = ("camera_fixed", "return_last_frame", "safety_identifier", "watermark")


def new_task_id(now_s: float | None = None) -> str:
    """`task-unified-{unix seconds}-{8 chars [a-z0-9]}`, as FoxAPI issues them."""
    number = int.from_bytes(secrets.token_bytes(6)) % 36**8  # one call to the OS's RNG, not eight
    suffix = ""
    for _ in range(8):
        number, digit = divmod(number, 36)
        suffix += _ID_ALPHABET[digit]
    return f"task-unified-{int(now_s if now_s is not None else time.time())}-{suffix}"


@dataclass(frozen=True)
class TaskSpec:
    """A validated request. `seed` is -1 until the worker draws one; `ratio` may be `adaptive` and
    `duration` -1 until references are probed."""

    model: str
    prompt: str
    resolution: str = "720p"
    ratio: str = "adaptive"
    duration: int = 5
    generate_audio: bool = True
    seed: int = -1
    image_urls: tuple[str, ...] = ()
    video_urls: tuple[str, ...] = ()
    audio_urls: tuple[str, ...] = ()
    callback_url: str | None = None
    # Image-to-video: the first frame and the optional last frame (None for the other modes; rows written
    # before these existed load with the defaults).
    image_url: str | None = None
    end_image_url: str | None = None
    # The wire the task was created in ("foxapi" or "ark"): its GET in the other wire still works, but its
    # webhooks speak the wire it came from. `dialect_options` keeps what that wire asked that the fields above
    # do not hold (Ark: the model id as sent, return_last_frame, camera_fixed), as sorted (name, value) pairs.
    dialect: str = "foxapi"
    dialect_options: tuple[tuple[str, str | int | bool], ...] = ()
    # Draft → final (api/drafts.py): a draft is a 480p preview; a final names the draft it re-renders.
    draft: bool = False
    draft_task_id: str | None = None
    # How the task waits (docs/api.md "Queue order and deadlines"): "flex" queues behind the key's "default"
    # tasks, a higher priority goes first within the key, and a task not finished `execution_expires_after`
    # seconds after its creation ends failed/expired (None: only the server's pending deadline applies).
    service_tier: str = "default"
    priority: int = 0
    execution_expires_after: int | None = None
    # The container of the result (`mp4` | `mov`) and what to make of the references (`omni_reference_task_type`:
    # auto | reference | edit | extend); Seedance 2.5 fields, taken by both wires.
    output_format: str = "mp4"
    omni_reference_task_type: str = "auto"

    @property
    def has_timed_references(self) -> bool:
        """Whether a video or audio reference may decide the length of a `duration: -1` output."""
        return bool(self.video_urls or self.audio_urls)

    def to_dict(self) -> dict[str, Any]:
        data = self.__dict__.copy()
        for key in ("image_urls", "video_urls", "audio_urls"):
            data[key] = list(data[key])
        data["dialect_options"] = dict(self.dialect_options)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TaskSpec:
        data = dict(data)  # rows written before a field existed load with its default
        for key in ("image_urls", "video_urls", "audio_urls"):
            data[key] = tuple(data.get(key) or ())
        data["dialect_options"] = tuple(sorted((data.get("dialect_options") or {}).items()))
        return cls(**data)

    @property
    def frame_urls(self) -> tuple[str, ...]:
        """The image-to-video frames in order (first, then last when sent); empty for the other modes."""
        return tuple(url for url in (self.image_url, self.end_image_url) if url)

    def passthrough(self) -> tuple[tuple[str, str | int | bool], ...]:
        """What a provider takes as the client asked it (`EngineInput.passthrough`): the creating wire's flags
        (Ark: camera_fixed, watermark, return_last_frame, safety_identifier) and the queue fields that differ
        from their defaults (a provider applies its own defaults to what is left out)."""
        options = {name: value for name, value in self.dialect_options if name in PROVIDER_OPTIONS}
        queue = {"service_tier": self.service_tier if self.service_tier != "default" else None,
                 "priority": self.priority or None, "execution_expires_after": self.execution_expires_after}
        options.update({name: value for name, value in queue.items() if value is not None})
        return tuple(sorted(options.items()))

    def option(self, name: str) -> str | int | bool | None:
        """One of `dialect_options`, or None when the creating wire did not set it."""
        return dict(self.dialect_options).get(name)


@dataclass(frozen=True)
class Task:
    id: str
    owner: str
    spec: TaskSpec
    engine: str
    status: TaskStatus = TaskStatus.PENDING
    progress: int = 0
    created_at: float = field(default_factory=time.time)
    started_at: float | None = None
    finished_at: float | None = None
    attempts: int = 0
    cancel_requested: bool = False
    cancellable: bool = True  # engines may say "no longer" (relay once upstream runs)
    worker_id: str | None = None
    lease_token: str | None = None
    lease_expires_at: float | None = None
    result: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    engine_state: dict[str, Any] = field(default_factory=dict)
    idempotency_key: str | None = None
    request_hash: str | None = None
    credits: int = 0

    @property
    def model(self) -> str:
        return self.spec.model

    @property
    def expires_at(self) -> float | None:
        """When the task ends expired if it has not finished (its `execution_expires_after`), or None."""
        after_s = self.spec.execution_expires_after
        return None if after_s is None else self.created_at + after_s

    @property
    def can_cancel(self) -> bool:
        """The truth at this moment: pending tasks always, running ones while the engine allows it and
        no cancel is already under way."""
        if self.status == TaskStatus.PENDING:
            return True
        return self.status == TaskStatus.PROCESSING and self.cancellable and not self.cancel_requested

    def with_(self, **changes: Any) -> Task:
        return replace(self, **changes)


@dataclass(frozen=True)
class Claim:
    """A task handed to a worker under a lease. Every write the worker makes names `token`."""

    task: Task
    token: str


@dataclass(frozen=True)
class Heartbeat:
    ok: bool  # False: the lease was lost (reaped, or the task finished elsewhere) — stop working on it
    cancel_requested: bool
