"""`watch_requests`: tells the connection's `EdgeProtocol` (api/edge.py) where each request begins and ends.

The protocol sees bytes, not requests: it knows where a request's headers end but not how long its body is
meant to be, when the app has read all of it, or when the answer is complete (so that the next request's
header deadline and limits start). This middleware knows all three, and finds the connection in the context
variable the protocol set before handing the bytes to uvicorn (the request's task copies that context).
Outside `refvid serve` (tests on ASGITransport) there is no connection and it passes requests straight on.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from refvid.api.edge import current_connection


def declared_body_length(scope: Scope) -> int | None:
    """The body length the request's headers declare: Content-Length, None for a chunked body, else 0."""
    length = 0
    for name, value in scope.get("headers", ()):
        if name == b"content-length" and value.isdigit():
            length = int(value)
        elif name == b"transfer-encoding":
            return None
    return length


class WatchRequests:
    """ASGI middleware: reports each HTTP request's start, body end and answer end to its connection."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        connection = current_connection.get()
        if connection is None or scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        connection.request_started(declared_body_length(scope))

        async def receive_watched() -> Message:
            message = await receive()
            if not message.get("more_body", False):
                connection.request_body_done()
            return message

        async def send_watched(message: Message) -> None:
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                connection.answered()

        await self.app(scope, receive_watched, send_watched)
