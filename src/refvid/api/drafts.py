"""Draft → final, in every dialect (Ark: `draft` and a `draft_task` content item; FoxAPI: the extension fields
`draft` and `draft_task_id`).

A draft is an ordinary task at 480p with `TaskSpec.draft` set. A final names a draft of the same key, made at
most 7 days before (Ark keeps draft ids that long), that completed; it re-renders the draft's shot: the same
model line, prompt, references, duration, ratio, audio setting and the seed the worker drew for the draft, at
the final's own resolution (default: the highest the model is served at, 1080p where offered, as Ark's 2.5
finals). Ark's documented rule is that the final reuses those inputs, so a final need not send them; one that
sends any of them with another value than the draft's is refused naming that field, rather than rendering
something the draft did not preview. An unknown id and another key's draft read the same (no existence leak).

Each dialect turns its request into the FoxAPI request it means, `final_request` turns that into the draft's
request at the final's resolution, and the usual checks (`validate_create`) and `build_task_spec` follow, so
nothing downstream knows about drafts beyond the two spec fields. A draft's uploads (its `data:` URLs are
stored as uploads too) are kept while the draft can be finalised (`keep_references`), not just the 72 h of an
upload: the final's worker resolves the same upload URLs.
"""

from __future__ import annotations

import time
from typing import Any

from fastapi import Request

from refvid import catalog
from refvid.api.schemas import CreateVideoRequest
from refvid.api.store_calls import store_op
from refvid.contract import DRAFT_TTL_S, RESOLUTIONS, URL_FIELDS, ModelOffer
from refvid.errors import NotFound, ValidationFailed
from refvid.tasks.model import Task, TaskSpec, TaskStatus
from refvid.tasks.service import TaskService
from refvid.tasks.store.files import keep_files_until, upload_id_of

DRAFT_PARAM = "draft_task_id"
# The request fields a final takes from its draft, and how the draft's spec holds each.
_REUSED = ("prompt", *URL_FIELDS.values(), "image_url", "end_image_url", "duration", "ratio", "generate_audio",
           "seed")


def _refused(message: str) -> ValidationFailed:
    return ValidationFailed(message, code="invalid_draft_task", param=DRAFT_PARAM)


async def load_draft(service: TaskService, owner: str, draft_id: str, now_s: float | None = None) -> Task:
    """The draft a final of `owner` may name, or ValidationFailed naming `draft_task_id`: unknown (or another
    key's), not a draft, older than 7 days, or not completed."""
    try:
        draft = await service.get(owner, draft_id)
    except NotFound:
        raise _refused(f"draft task {draft_id!r} not found") from None
    if not draft.spec.draft:
        raise _refused(f"task {draft_id} is not a draft (a draft is created with draft: true)")
    age_s = (time.time() if now_s is None else now_s) - draft.created_at
    if age_s > DRAFT_TTL_S:
        raise _refused(f"draft task {draft_id} expired: a draft can be finalised for {DRAFT_TTL_S // 86400} days "
                       f"after it was created")
    if draft.status != TaskStatus.COMPLETED:
        raise _refused(f"draft task {draft_id} is {draft.status.value}; a final needs a draft that completed")
    return draft


def drawn_seed(draft: Task) -> int:
    """The seed the draft was rendered with: its result's, else the one the worker saved before rendering
    (a result whose files were collected keeps only `{"expired": true}`)."""
    seed = (draft.result or {}).get("seed", draft.engine_state.get("seed", draft.spec.seed))
    return int(seed)


def final_request(req: CreateVideoRequest, draft: Task, served: dict[str, ModelOffer]) -> CreateVideoRequest:
    """The request the final `req` means: its draft's, at the final's resolution, with the draft's seed."""
    spec, models = draft.spec, catalog.active()
    if models.sibling(req.model, models.mode_of(spec.model)) != spec.model:
        raise ValidationFailed(f"draft task {draft.id} was made with {spec.model}; its final must name a model of "
                               f"the same line (got {req.model})", code="invalid_draft_task", param="model")
    reused = _reused(spec, drawn_seed(draft))
    for name in _REUSED:
        if name in req.model_fields_set and _sent(req, name) != reused[name]:
            raise ValidationFailed(f"{name}: a final reuses its draft's {name} ({reused[name]!r}); leave it out or "
                                   f"send the same value", code="invalid_draft_task", param=name)
    if "aspect_ratio" in req.model_fields_set and req.aspect_ratio != spec.ratio:
        raise ValidationFailed(f"aspect_ratio: a final reuses its draft's ratio ({spec.ratio!r})",
                               code="invalid_draft_task", param="aspect_ratio")
    resolution = req.resolution
    offer = served.get(spec.model)
    if "resolution" not in req.model_fields_set and offer is not None and offer.resolutions:
        resolution = max(offer.resolutions, key=lambda r: RESOLUTIONS.index(r) if r in RESOLUTIONS else -1)
    return req.model_copy(update={**reused, "model": spec.model, "resolution": resolution, "aspect_ratio": None})


def _reused(spec: TaskSpec, seed: int) -> dict[str, Any]:
    return {"prompt": spec.prompt or None, **{f: list(getattr(spec, f)) for f in URL_FIELDS.values()},
            "image_url": spec.image_url, "end_image_url": spec.end_image_url, "duration": spec.duration,
            "ratio": spec.ratio, "generate_audio": spec.generate_audio, "seed": seed}


def _sent(req: CreateVideoRequest, name: str) -> Any:
    return req.effective_ratio if name == "ratio" else getattr(req, name)


async def keep_references(request: Request, owner: str, spec: TaskSpec, upload_ttl_s: float) -> None:
    """A draft's uploads live as long as it can be finalised, a final's as long as a fresh upload (it may wait
    in the queue): the final's worker resolves the draft's upload URLs. Other tasks' uploads are left as
    they are."""
    if not (spec.draft or spec.draft_task_id):
        return
    lifetime_s = DRAFT_TTL_S if spec.draft else upload_ttl_s
    urls = (*spec.image_urls, *spec.video_urls, *spec.audio_urls, *spec.frame_urls)
    file_ids = sorted({file_id for url in urls if (file_id := upload_id_of(url)) is not None})
    if file_ids:
        await store_op(request, keep_files_until(owner, file_ids, int(time.time() + lifetime_s)))
