"""GET /v1/models and GET (and HEAD) /healthz."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from refvid.api.deps import CallerDep, RuntimeDep
from refvid.api.errors import documented_errors
from refvid.api.head import add_head_route, headers_only
from refvid.api.schemas import ModelList, ModelObject
from refvid.contract import COMMON_INPUTS, MODE_INPUTS, ModelOffer, mode_of

router = APIRouter(responses=documented_errors(429))  # any authenticated request may be rate-limited


@router.get("/v1/models", response_model=ModelList, summary="Models served here")
def list_models(_: CallerDep, request: Request) -> ModelList:
    """What the composition root put in `app.state.models`: the API never imports an engine to know it."""
    offers: dict[str, ModelOffer] = request.app.state.models
    return ModelList(data=[_model_object(offer) for offer in offers.values()])


def _model_object(offer: ModelOffer) -> ModelObject:
    """FoxAPI's fields, then what the model takes (its mode's inputs, from the contract) as extensions."""
    mode = mode_of(offer.model)
    inputs = MODE_INPUTS[mode]
    return ModelObject(id=offer.model, engine=offer.engine, resolutions=list(offer.resolutions),
                       supports_audio=offer.supports_audio, mode=mode, required=list(inputs["required"]),
                       accepts=[*COMMON_INPUTS, *inputs["required"], *inputs["optional"]],
                       details=dict(offer.details) or None, makes=offer.makes or None,
                       placeholder=offer.placeholder)


@router.get("/healthz", include_in_schema=False)
def healthz(request: Request, runtime: RuntimeDep) -> Response:
    """200 once the database answers (HEAD too: load balancers and uptime checks ask with it)."""
    runtime.store.count_by_status()
    return headers_only(request, JSONResponse({"status": "ok"}))


add_head_route(router, "/healthz", healthz)
