"""A ceiling on request bodies, for both servers, enforced before a body is read.

Without one, anyone who can reach a server can make it hold whatever they send
(issue 17: four unauthenticated 50 MB posts grew the admin server to 5 GB).
The limit is checked twice, in a pure ASGI middleware that sits outside the
framework: a declared ``Content-Length`` over it is answered 413 at once,
without reading a byte; a body sent without one (chunked) is counted as it
streams and refused the moment it passes the limit. Either way the server has
held at most one chunk past the limit.

The default (``RULELOG_MAX_BODY_BYTES``, 20 MiB) is four times the 5 MB that
Balrog's own deployment lets through to its admin app (nginx
``client_max_body_size 5M`` in its ``scripts/nginx.conf``), so every body a
Balrog client can send to Balrog fits with room for blobs to grow; Firefox
release blobs run to a few MB.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from rulelog.api.settings import DEFAULT_MAX_BODY_BYTES

__all__ = ["DEFAULT_MAX_BODY_BYTES", "ENV_MAX_BODY_BYTES", "BodyLimit", "max_body_bytes"]

ENV_MAX_BODY_BYTES = "RULELOG_MAX_BODY_BYTES"


def max_body_bytes(env: Mapping[str, str] | None = None) -> int:
    """The configured ceiling (``RULELOG_MAX_BODY_BYTES``), a positive number of bytes."""
    from rulelog.api.settings import load_settings

    return load_settings(env).max_body_bytes


class BodyTooLarge(HTTPException):
    """Raised from ``receive`` once a streamed body passes the limit.

    An ``HTTPException``, so a framework reading the body (FastAPI) passes it
    on to its own error handling instead of calling it a parse error.
    """

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"The request body is larger than the limit of {limit} bytes.")


class BodyLimit:
    """Answer 413 to any request whose body is, or becomes, longer than ``limit`` bytes."""

    def __init__(self, app: ASGIApp, *, limit: int = DEFAULT_MAX_BODY_BYTES) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.limit:
            await self._refuse(send)
            return
        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise BodyTooLarge(self.limit)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except BodyTooLarge:
            if started:
                raise
            await self._refuse(send)

    async def _refuse(self, send: Send) -> None:
        body = json.dumps(
            {
                "type": "about:blank",
                "title": "Payload Too Large",
                "detail": f"The request body is larger than the limit of {self.limit} bytes.",
                "status": 413,
            }
        ).encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
        ]
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def _content_length(scope: Scope) -> int | None:
    """The declared length; an unreadable one counts as too long (it is refused)."""
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            text = value.strip()
            if not text.isdigit() or len(text) > 18:
                return 1 << 62
            return int(text)
    return None
