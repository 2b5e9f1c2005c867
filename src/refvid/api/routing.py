"""`LeanRoute`: the route class of the routers that carry this API's traffic (polls and creates).

An endpoint that takes only the `Request` and returns its own `Response` leaves FastAPI's per-request
machinery nothing to do: no dependency to solve, no parameter to parse, no return value to validate. Yet that
machinery, with its two exit stacks, cost a fifth of a task poll. Such an endpoint runs here as a plain
Starlette endpoint, with the same exception handlers. The route stays a FastAPI route for the OpenAPI
document: its `response_model`, `responses` and `openapi_extra` are unchanged. Any other endpoint of the same
router runs exactly as under `APIRoute`.

`DialectRoute` is the route class of a dialect package (api/ark/, api/openai/): the errors of its routes —
their own, their dependencies' (authentication, rate limits) and FastAPI's parameter validation — leave in
that dialect's shape, without a second set of app-wide exception handlers.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute
from starlette.routing import request_response


class LeanRoute(APIRoute):
    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        super().__init__(path, endpoint, **kwargs)
        if self.lean:
            self.app = request_response(self.get_route_handler())

    @property
    def lean(self) -> bool:
        """Whether the endpoint is `async def endpoint(request) -> Response` with nothing for FastAPI to do."""
        dependant = self.dependant
        return (inspect.iscoroutinefunction(self.endpoint) and dependant.request_param_name is not None
                and len(inspect.signature(self.endpoint).parameters) == 1
                and not (dependant.path_params or dependant.query_params or dependant.header_params
                         or dependant.cookie_params or dependant.body_params or dependant.dependencies))

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        if not self.lean:
            return super().get_route_handler()
        endpoint = self.endpoint

        async def handler(request: Request) -> Response:
            response = await endpoint(request)
            if not isinstance(response, Response):  # a lean endpoint serialises its own answer
                raise TypeError(f"{endpoint.__qualname__} returned {type(response).__name__}, not a Response")
            return response

        return handler


class DialectRoute(LeanRoute):
    """A route whose errors are answered by `answer_error` (a dialect's own shape); an error it returns None
    for goes on to the app's exception handlers."""

    @staticmethod
    def answer_error(exc: Exception) -> Response | None:
        raise NotImplementedError

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        answer_error = self.answer_error

        async def dialect_handler(request: Request) -> Response:
            try:
                return await handler(request)
            except Exception as exc:  # every error of this route leaves in its dialect's shape
                answer = answer_error(exc)
                if answer is None:
                    raise
                return answer

        return dialect_handler
