"""GET /v1/models and GET /healthz."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from refvid.api.deps import CallerDep
from refvid.api.errors import documented_errors
from refvid.api.schemas import ModelList, ModelObject
from refvid.api.store_calls import runner_of, store_op
from refvid.contract import COMMON_INPUTS, MODE_INPUTS, ModelOffer, mode_of
from refvid.tasks.store.base import ping

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
                       details=dict(offer.details) or None)


@router.get("/healthz", include_in_schema=False)
async def healthz(request: Request) -> JSONResponse:
    """200 once the database answers (503 while it does not). A store that answers reads but has kept writes
    waiting for seconds (SQLite locked by another process) is `degraded`, with how long: polls still work."""
    await store_op(request, ping())
    trouble = runner_of(request).health()
    return JSONResponse({"status": "degraded", "store": trouble} if trouble else {"status": "ok"})
