"""GET /v1/models and GET (and HEAD) /healthz."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from refvid import catalog
from refvid.api.deps import CallerDep
from refvid.api.errors import documented_errors
from refvid.api.head import add_head_route, headers_only
from refvid.api.schemas import ModelList, ModelObject
from refvid.api.store_calls import runner_of, store_op
from refvid.contract import COMMON_INPUTS, MODE_INPUTS, ModelOffer
from refvid.tasks.store.base import ping

#: upstream name → live facts about it (health, jobs in flight), asked per `GET /v1/models` (off the event loop)
ModelStatus = Callable[[], Mapping[str, Mapping[str, object]]]
router = APIRouter(responses=documented_errors(429))  # any authenticated request may be rate-limited


@router.get("/v1/models", response_model=ModelList, summary="Models served here")
def list_models(_: CallerDep, request: Request) -> ModelList:
    """What the composition root put in `app.state.models`: the API never imports an engine to know it."""
    offers: dict[str, ModelOffer] = request.app.state.models
    status: ModelStatus | None = request.app.state.model_status
    live = status() if status is not None else {}
    return ModelList(data=[_model_object(offer, live) for offer in offers.values()])


def _with_live(details: dict[str, object], live: Mapping[str, Mapping[str, object]]) -> dict[str, object]:
    """The offer's upstreams, each with its live facts."""
    upstreams = details.get("upstreams")
    if not live or not isinstance(upstreams, list):
        return details
    merged = [{**u, **live.get(str(u.get("name")), {})} if isinstance(u, dict) else u for u in upstreams]
    return {**details, "upstreams": merged}


def _model_object(offer: ModelOffer, live: Mapping[str, Mapping[str, object]]) -> ModelObject:
    """FoxAPI's fields, then what the model takes (its mode's inputs, from the contract) as extensions."""
    entry = catalog.active().get(offer.model)
    mode = entry.mode if entry else "reference"
    inputs = MODE_INPUTS[mode]
    return ModelObject(id=offer.model, engine=offer.engine, resolutions=list(offer.resolutions),
                       supports_audio=offer.supports_audio, mode=mode, required=list(inputs["required"]),
                       accepts=[*COMMON_INPUTS, *inputs["required"], *inputs["optional"],
                                *(("draft", "draft_task_id") if entry and entry.draft else ())],
                       details=_with_live(dict(offer.details), live) or None, makes=offer.makes or None,
                       placeholder=offer.placeholder, limits=entry.limits() if entry else None)


@router.get("/healthz", include_in_schema=False)
async def healthz(request: Request) -> Response:
    """200 once the database answers (503 while it does not; HEAD too: load balancers and uptime checks ask
    with it). A store that answers reads but has kept writes waiting for seconds (SQLite locked by another
    process) is `degraded`, with how long: polls still work."""
    await store_op(request, ping())
    trouble = runner_of(request).health()
    body = {"status": "degraded", "store": trouble} if trouble else {"status": "ok"}
    return headers_only(request, JSONResponse(body))


add_head_route(router, "/healthz", healthz)
