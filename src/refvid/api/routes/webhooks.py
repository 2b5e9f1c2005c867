"""GET /v1/webhooks/secret and POST /v1/webhooks/secret/rotate (spec §8), and the task renderer that
webhook deliveries use for their `data`."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from refvid.api.ark.present import present_ark_task
from refvid.api.deps import CallerDep
from refvid.api.errors import documented_errors
from refvid.api.present import configured_base_url, present_task_at
from refvid.api.store_calls import blocking
from refvid.runtime import Runtime
from refvid.tasks.model import Task
from refvid.tasks.service import TaskService
from refvid.webhooks.dispatcher import Render, WebhookEvent, standard_body
from refvid.webhooks.secrets import SecretInfo, WebhookSecrets

router = APIRouter(responses=documented_errors(429))  # any authenticated request may be rate-limited
ERRORS = documented_errors(401)


class WebhookSecretObject(BaseModel):
    """A key's webhook signing secret."""

    object: Literal["webhook.secret"] = "webhook.secret"
    secret: str = Field(description="`whsec_…`; verify deliveries with `standardwebhooks.Webhook(secret).verify`.")
    created: int = Field(description="When this secret became the current one (Unix seconds).")
    previous_secret_expires_at: int | None = Field(
        None, description="After a rotation: until when deliveries are also signed with the previous secret.")


def _secret_object(info: SecretInfo) -> WebhookSecretObject:
    previous = int(info.previous_expires_at) if info.previous_expires_at is not None else None
    return WebhookSecretObject(secret=info.secret, created=int(info.created_at),
                               previous_secret_expires_at=previous)


def _secrets(request: Request) -> WebhookSecrets:
    secrets: WebhookSecrets = request.app.state.webhook_secrets
    return secrets


@router.get("/v1/webhooks/secret", response_model=WebhookSecretObject, responses=ERRORS,
            summary="The webhook signing secret of this key (created on first use)")
async def get_secret(request: Request, caller: CallerDep) -> WebhookSecretObject:
    return _secret_object(await blocking(_secrets(request).current, caller.owner))


@router.post("/v1/webhooks/secret/rotate", response_model=WebhookSecretObject, responses=ERRORS,
             summary="Replace the webhook signing secret; the old one keeps signing for 24 h")
async def rotate_secret(request: Request, caller: CallerDep) -> WebhookSecretObject:
    return _secret_object(await blocking(_secrets(request).rotate, caller.owner))


def webhook_renderer(runtime: Runtime, service: TaskService) -> Render:
    """Task + event → the body to POST: `{"type", "timestamp", "data": <the task object exactly as GET
    /v1/tasks/{id} answers it>}` (spec §8) — or, for a task created in the Ark dialect, Ark's task object
    itself, as Ark's GET answers it (Ark's callbacks carry the task object, spec §9) — with result URLs under
    REFVID_PUBLIC_URL (else http://{host}:{port}), since a delivery has no request to take a base from."""
    base = configured_base_url(runtime)

    def render(task: Task, event: WebhookEvent) -> dict[str, Any]:
        if task.spec.dialect == "ark":
            ark: dict[str, Any] = present_ark_task(task, base, runtime).model_dump(mode="json", exclude_none=True)
            return ark
        return standard_body(event, present_task_at(task, base, runtime, service).model_dump(mode="json"))

    return render
