"""The public app's front door: update requests answered before any framework code.

``/update/...`` and ``/json/...`` are nearly all the traffic. ``PublicFront``
is the outermost ASGI callable: those two prefixes are answered here, with
Balrog's headers, a request id and one log line, and everything else goes
to the Starlette app (dockerflow, robots, ``/api/v1``) and its middleware.
Measured against a bare Starlette no-op (``bench/serve.py``), the router and
middleware stack alone cost a quarter of the capacity.

Answers are cached per index generation (``AnswerCache``): the key is the
request as received -- raw path, raw query and whether the User-Agent says
PPC, the one header evaluation reads -- so it holds everything that
determines the answer, and a new generation (every change the follower
folds: rules, releases, shutoffs, pins, test-channel mappings, scheduled
changes, anything else) starts an empty cache. Answers that depended on a
dice roll (``backgroundRate``), on blobs that could not be loaded, or on an
index not loaded yet are never cached.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from api.logs import get_logger
from api.public_middleware import SECURITY_HEADERS, fallback_answer, new_request_id
from api.request_log import RequestLog
from domain.evaluate import Response as Answer

__all__ = ["AnswerCache", "PreparedAnswer", "PublicFront", "prepare"]

log = get_logger("rulelog.public")

UPDATE_PREFIXES = ("/update/", "/json/")
#: Cache bounds per generation (oldest entries go first): answers are a few kB.
DEFAULT_CACHE_ENTRIES = 20_000
DEFAULT_CACHE_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class PreparedAnswer:
    """An answer ready to send: every header but the request id, the body as bytes."""

    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes
    #: Items of the request's log line (rule id, problem), or None.
    log_items: Mapping[str, Any] | None


def prepare(
    answer: Answer,
    position: int,
    cache_control: bytes | None = None,
    tail: list[tuple[bytes, bytes]] | None = None,
) -> PreparedAnswer:
    """Headers in the order Balrog's app and rulelog's middleware give them: the answer's,
    the position, ``cache_control`` unless the answer has its own, then ``tail``."""
    body = answer.body.encode("utf-8")
    headers = [
        (b"content-type", answer.content_type.encode("latin-1")),
        (b"content-length", str(len(body)).encode("latin-1")),
        *((k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in answer.headers.items()),
        (b"x-rulelog-position", str(position).encode()),
    ]
    if cache_control is not None and not any(k == b"cache-control" for k, _ in headers):
        headers.append((b"cache-control", cache_control))
    headers += tail or ()
    items: dict[str, Any] = {}
    if "Rule-ID" in answer.headers:
        items["rule_id"] = answer.headers["Rule-ID"]
    if answer.problem:
        items["problem"] = answer.problem
    return PreparedAnswer(answer.status, headers, body, items or None)


class AnswerCache:
    """Prepared answers of one index generation, bounded in entries and bytes."""

    def __init__(
        self, entries: int = DEFAULT_CACHE_ENTRIES, size: int = DEFAULT_CACHE_BYTES
    ) -> None:
        self.entries = entries
        self.size = size
        self.bytes = 0
        self._answers: dict[bytes, PreparedAnswer] = {}
        self.get = self._answers.get

    def put(self, key: bytes, answer: PreparedAnswer) -> None:
        if self.entries <= 0:
            return
        answers = self._answers
        self.bytes += len(answer.body) + len(key)
        answers[key] = answer
        while answers and (len(answers) > self.entries or self.bytes > self.size):
            oldest = next(iter(answers))
            self.bytes -= len(answers.pop(oldest).body) + len(oldest)

    def __len__(self) -> int:
        return len(self._answers)


def cache_key(scope: Scope) -> bytes:
    """The request as received, and whether its User-Agent says PPC (see ``domain.request``)."""
    key = (scope.get("raw_path") or scope["path"].encode()) + b"?" + scope["query_string"]
    for name, value in scope["headers"]:
        if name == b"user-agent":
            return key + b"\nPPC" if b"PPC" in value else key
    return key


class PublicFront:
    """Update requests answered here (cached per generation); the rest to ``app``.

    ``endpoint.answer(scope, index)`` computes an uncached answer over one
    index generation: (answer, position, cacheable).
    """

    def __init__(
        self,
        app: ASGIApp,
        endpoint: Any,
        *,
        request_log: RequestLog,
        cache_control: str,
        cache_entries: int = DEFAULT_CACHE_ENTRIES,
    ) -> None:
        self.app = app
        self.endpoint = endpoint
        self.request_log = request_log
        self.cache_entries = cache_entries
        self.cache_control = cache_control.encode("latin-1")
        self.tail = [
            *SECURITY_HEADERS,
            (b"x-rulelog-worker", request_log.worker.encode("latin-1")),
        ]
        self._cache = AnswerCache(0)
        self._cached_index: Any = None

    @property
    def state(self) -> Any:
        """The Starlette app's state (``app.state.server``), as if this were the app."""
        return self.app.state  # type: ignore[attr-defined]

    def cache_for(self, index: Any) -> AnswerCache:
        """The cache of generation ``index``: a new, empty one whenever it changed."""
        if index is not self._cached_index:
            self._cache = AnswerCache(self.cache_entries)
            self._cached_index = index
        return self._cache

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(UPDATE_PREFIXES):
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = new_request_id()
        status, items = 0, None
        try:
            prepared = await self._prepared(scope)
            status, items = prepared.status, prepared.log_items
            headers = [*prepared.headers, (b"x-request-id", request_id.encode())]
            await send({"type": "http.response.start", "status": status, "headers": headers})
            await send({"type": "http.response.body", "body": prepared.body})
        except Exception as error:
            items = {**(items or {}), "problem": f"{type(error).__name__}: {error}"}
            log.error(
                "request.failed", exc_info=True, path=scope.get("path"), request_id=request_id
            )
            if status == 0:
                status = await self._fallback(scope, send, request_id)
        finally:
            target = scope.get("raw_path") or b""
            if scope.get("query_string"):
                target += b"?" + scope["query_string"]
            duration = time.perf_counter() - started
            self.request_log.record(request_id, scope["method"], target, status, duration, items)

    async def _prepared(self, scope: Scope) -> PreparedAnswer:
        index = self.endpoint.server.state.index
        cache = self.cache_for(index)
        key = cache_key(scope) if scope["method"] == "GET" else None
        if key is not None:
            found = cache.get(key)
            if found is not None:
                return found
        answer, position, cacheable = await self.endpoint.answer(scope, index)
        prepared = prepare(answer, position, self.cache_control, self.tail)
        if key is not None and cacheable:
            cache.put(key, prepared)
        return prepared

    async def _fallback(self, scope: Scope, send: Send, request_id: str) -> int:
        status, content_type, body = fallback_answer(scope.get("path", ""))
        headers = [
            (b"content-type", content_type),
            (b"content-length", str(len(body)).encode()),
            (b"cache-control", self.cache_control),
            *self.tail,
            (b"x-request-id", request_id.encode()),
        ]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
        return status
