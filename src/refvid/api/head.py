"""`HEAD` beside `GET` for the URLs that download managers, CDNs and players probe before they fetch:
`/healthz`, result files and uploads' files. FastAPI routes a `GET` only; the HEAD route runs the same endpoint
(checks, signatures and errors included) and answers its headers (Content-Length, Content-Type,
Accept-Ranges, ETag, Last-Modified) without the body. Starlette's `FileResponse` already sends headers only to
a HEAD; `headers_only` does the same for a response built in memory."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request, Response


def add_head_route(router: APIRouter, path: str, endpoint: Callable[..., Any]) -> None:
    """Serve `endpoint` (already routed for GET at `path`) to HEAD too, outside the OpenAPI document (which
    would otherwise list the operation twice under one id)."""
    router.add_api_route(path, endpoint, methods=["HEAD"], include_in_schema=False)


def headers_only(request: Request, response: Response) -> Response:
    """`response` as it is for a GET; for a HEAD, its status and headers (Content-Length of the body that a
    GET gets) with no body, whichever server runs the app."""
    if request.method != "HEAD":
        return response
    return Response(status_code=response.status_code, headers=dict(response.headers))
