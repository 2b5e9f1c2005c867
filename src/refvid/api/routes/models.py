"""GET /v1/models and GET /healthz."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from refvid.api.deps import Owner, RuntimeDep
from refvid.api.schemas import ModelList, ModelObject
from refvid.engines.registry import resolutions_for, served_models

router = APIRouter()


@router.get("/v1/models", response_model=ModelList, summary="Models served here")
def list_models(_: Owner, runtime: RuntimeDep) -> ModelList:
    return ModelList(data=[
        ModelObject(id=model, engine=info.name, resolutions=list(resolutions_for(model, info)),
                    supports_audio=info.supports_audio)
        for model, info in served_models(runtime.settings).items()
    ])


@router.get("/healthz", include_in_schema=False)
def healthz(runtime: RuntimeDep) -> JSONResponse:
    """200 once the database answers."""
    runtime.store.count_by_status()
    return JSONResponse({"status": "ok"})
