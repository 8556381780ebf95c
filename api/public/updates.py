"""``/update/...`` and ``/json/...``: the raw target parsed, evaluated, written as Balrog does.

The raw path goes to ``domain.serving.request.parse`` (Balrog decodes and
routes the path itself, so a router matching decoded segments would get
``%2F`` wrong); what it refuses is answered here in Balrog's words (an
unrouted path, a redirect, a 400); a parsed request is answered by
``PublicServer.answer`` over one index generation.
"""

from __future__ import annotations

import html
from typing import Any
from urllib.parse import quote

from starlette.types import Receive, Scope, Send

from rulelog.api.public.front import prepare
from rulelog.api.public.middleware import request_info
from rulelog.api.public.responses import TEXT, problem
from rulelog.api.public.server import PublicServer
from rulelog.domain.errors import Invalid
from rulelog.domain.serving.evaluate import Dice, route_not_found
from rulelog.domain.serving.evaluate import Response as Answer
from rulelog.domain.serving.request import RouteNotFound, RouteRedirect, parse
from rulelog.projections.serving import LiveIndex

__all__ = ["NOT_LOADED", "UpdateEndpoint", "raw_target"]

NOT_LOADED = "The update index is not loaded yet; try again shortly."


class UpdateEndpoint:
    """Answers ``/update/...`` and ``/json/...``, and any path no other route takes.

    ``PublicFront`` calls ``answer`` for the two update prefixes (and caches
    what it may); as a Starlette endpoint it serves the catch-all route,
    inside ``RequestLogMiddleware``.
    """

    def __init__(self, server: PublicServer) -> None:
        self.server = server

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        answer, position, _ = await self.answer(scope, self.server.state.index)
        prepared = prepare(answer)
        request_info(scope).update(prepared.log_items or {})
        headers = prepared.headers(str(position).encode())
        await send({"type": "http.response.start", "status": answer.status, "headers": headers})
        await send({"type": "http.response.body", "body": prepared.body})

    async def answer(
        self,
        scope: Scope,
        index: LiveIndex,
        info: dict[str, Any] | None = None,
        rng: Dice | None = None,
    ) -> tuple[Answer, int, bool]:
        """(answer, position, cacheable): whether the same request always gets it
        from this generation (index loaded), or -- when it rolled the dice once (see
        ``Answer.rolls``) -- every roll on the same side of that rate does; ``info``
        (default: the request's log items) learns about the blob cache; ``rng`` rolls
        the dice (default: ``evaluate``'s)."""
        position = index.position
        path, query = raw_target(scope)
        try:
            request = parse(path, query, {"User-Agent": _user_agent(scope)})
        except RouteNotFound as error:
            return route_not_found(error), position, True
        except RouteRedirect as error:
            location = quote(error.location, safe=":/?#[]@!$&'()*+,;=%~")
            redirect = Answer(308, TEXT, f"Redirecting to {location}", {"Location": location})
            return redirect, position, True
        except Invalid as error:  # connexion's parameter validation: a problem document
            body = problem(400, None, error.message).body.decode()
            return Answer(400, "application/problem+json", body), position, True
        if scope["method"] not in ("GET", "HEAD"):
            return Answer(405, TEXT, "Method Not Allowed", {"Allow": "GET, HEAD"}), position, False
        if not self.server.state.loaded:
            return Answer(503, TEXT, NOT_LOADED, {"Retry-After": "1"}), position, False
        learnt = request_info(scope) if info is None else info
        try:
            answer, position = await self.server.answer(request, index, learnt, rng)
        except Invalid as error:  # Balrog's BadDataError: the message, escaped
            return Answer(400, TEXT, html.escape(error.message, quote=False)), position, True
        finally:
            if info is None:
                learnt.pop("live", None)  # for the answer cache, not the log line
        return answer, position, len(answer.rolls) <= 1


def raw_target(scope: Scope) -> tuple[str, str]:
    """The path and query as the client sent them (non-ASCII bytes %-encoded)."""
    raw = scope.get("raw_path") or quote(scope["path"]).encode("ascii")
    query = scope.get("query_string") or b""
    return _ascii(raw.split(b"?", 1)[0]), _ascii(query)


def _ascii(raw: bytes) -> str:
    if raw.isascii():
        return raw.decode("ascii")
    return "".join(chr(b) if b < 0x80 else f"%{b:02X}" for b in raw)


def _user_agent(scope: Scope) -> str:
    for name, value in scope.get("headers", ()):
        if name == b"user-agent":
            return value.decode("latin-1")
    return ""
