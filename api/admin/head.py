"""HEAD answered as GET without a body, as Flask (and so Balrog) does for every GET route.

balrogclient asks ``HEAD /releases/{name}`` and ``HEAD /rules/{id}`` for the
``X-Data-Version`` header before each write; FastAPI routes only the methods
declared, so this middleware runs a HEAD as the GET it stands for and drops
the body, keeping the headers (``Content-Length`` included).
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class HeadAsGet:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return

        async def send_headers_only(message: Message) -> None:
            if message["type"] == "http.response.body":
                message = {**message, "body": b""}
            await send(message)

        await self.app({**scope, "method": "GET"}, receive, send_headers_only)
