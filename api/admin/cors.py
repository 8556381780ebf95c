"""CORS as Balrog's admin app answers it, so Balrog's own UI can call rulelog.

Balrog adds ``Access-Control-Allow-Headers: Authorization, Content-Type`` and
``Access-Control-Allow-Methods: OPTIONS, GET, POST, PUT, DELETE`` to every
answer, and ``Access-Control-Allow-Origin`` when its ``CORS_ORIGINS`` (a
comma-separated list) holds ``*`` (then ``*``) or the request's ``Origin``
(then that origin). A preflight (``OPTIONS``) of any route is answered by
Flask itself: 200, an empty ``text/html`` body and ``Allow`` naming the
route's methods; a path no route serves stays a 404.
"""

from __future__ import annotations

from collections.abc import Iterable

from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

ENV_CORS_ORIGINS = "RULELOG_CORS_ORIGINS"
ALLOW_HEADERS = "Authorization, Content-Type"
ALLOW_METHODS = "OPTIONS, GET, POST, PUT, DELETE"


def cors_origins(raw: str | None) -> tuple[str, ...]:
    """``RULELOG_CORS_ORIGINS`` as Balrog reads ``CORS_ORIGINS``: split on commas, stripped."""
    return tuple(o.strip() for o in (raw or "").split(",") if o.strip())


class Cors:
    def __init__(self, app: ASGIApp, origins: Iterable[str], routes_of: object) -> None:
        self.app = app
        self.origins = frozenset(origins)
        #: The FastAPI app, whose routes say which methods a path allows.
        self.routes_of = routes_of

    def headers(self, scope: Scope) -> list[tuple[bytes, bytes]]:
        out = [
            (b"access-control-allow-headers", ALLOW_HEADERS.encode()),
            (b"access-control-allow-methods", ALLOW_METHODS.encode()),
        ]
        origin = dict(scope.get("headers") or []).get(b"origin")
        if "*" in self.origins:
            out.append((b"access-control-allow-origin", b"*"))
        elif origin is not None and origin.decode("latin-1") in self.origins:
            out.append((b"access-control-allow-origin", origin))
        return out

    def allowed(self, scope: Scope) -> set[str]:
        """The methods some route serves at this path (a full match for the method)."""
        methods: set[str] = set()
        routes = self.routes_of.router.routes  # type: ignore[attr-defined]
        for method in ("GET", "POST", "PUT", "DELETE"):
            probe = {**scope, "method": method}
            if any(route.matches(probe)[0] == Match.FULL for route in routes):
                methods.add(method)
        return methods

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = self.headers(scope)
        if scope["method"] == "OPTIONS":
            methods = self.allowed(scope)
            if methods:
                if "GET" in methods:
                    methods.add("HEAD")
                allow = ", ".join(sorted(methods | {"OPTIONS"}))
                await send(
                    {
                        "type": "http.response.start",
                        "status": 200,
                        "headers": [
                            (b"content-type", b"text/html; charset=utf-8"),
                            (b"content-length", b"0"),
                            (b"allow", allow.encode()),
                            *extra,
                        ],
                    }
                )
                await send({"type": "http.response.body", "body": b""})
                return

        async def with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, with_cors)
