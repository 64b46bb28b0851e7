"""ASGI middleware that keeps any request body to 1 MB, whatever its framing."""

from fastapi import status
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

MAX_BODY = 1_000_000


class BodyLimit:
    """ASGI middleware: refuse a body over `limit` bytes with 413, whatever its framing.

    A `Content-Length` over the limit is refused before anything is read. A chunked body has
    no length to check, so it is read here and reading stops with the chunk that takes it past
    the limit: a client streaming gigabytes costs at most `limit` plus one chunk of memory.
    """

    def __init__(self, app: ASGIApp, limit: int = MAX_BODY) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope["headers"]).get(b"content-length", b"")
        if length.isdigit() and int(length) > self.limit:
            await self._refuse(scope, receive, send)
            return
        body = bytearray()
        last: Message = {"type": "http.request", "body": b"", "more_body": False}
        while True:
            message = await receive()
            if message["type"] != "http.request":
                last = message  # the client went away; let the app see that
                break
            body += message.get("body", b"")
            if len(body) > self.limit:
                await self._refuse(scope, receive, send)
                return
            if not message.get("more_body", False):
                break
        pending = [{"type": "http.request", "body": bytes(body), "more_body": False}]
        if last["type"] != "http.request":
            pending = [last]

        async def replay() -> Message:
            return pending.pop(0) if pending else await receive()

        await self.app(scope, replay, send)

    @staticmethod
    async def _refuse(scope: Scope, receive: Receive, send: Send) -> None:
        answer = JSONResponse(
            {"detail": "request body over 1 MB"}, status.HTTP_413_CONTENT_TOO_LARGE
        )
        await answer(scope, receive, send)
