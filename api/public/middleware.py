"""The outermost layer of both apps: request ids, one log line, metrics, never a 500.

A pure ASGI middleware (no per-request framework objects) because it wraps
every update request. For each HTTP request it binds a request id with
``structlog.contextvars`` (so anything logged while serving carries it) --
the incoming ``X-Request-Id`` when a load balancer sent a sane one, else a new
one -- and returns it as ``X-Request-Id``; it
adds Balrog's response headers (security headers; ``Cache-Control`` and the
Content-Security-Policy unless the handler chose its own), and logs one line
when the request ends: status,
duration, the rule that answered and any ``problem``. The request's metrics
(count, latency, blob cache) are recorded here too, and only here.

Should a handler raise anyway, the client still gets an answer Balrog's
clients handle: "no update" on update routes (an empty ``<updates>``, or
``{}`` for JSON), a 503 with a message elsewhere. The problem is logged with
its traceback; nothing reaches the server's own 500 handling.
"""

from __future__ import annotations

import os
import time
from typing import Any

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from rulelog.api.logs import get_logger
from rulelog.api.metrics import record_request, route_template
from rulelog.api.request_log import LOGGED_TARGET_MAX, RequestLog
from rulelog.domain.serving.blobs.render import EMPTY_UPDATES

__all__ = ["RequestLogMiddleware", "incoming_request_id", "new_request_id", "request_info"]

log = get_logger("rulelog.public")

#: Balrog's after_request headers (web/public/base.py).
SECURITY_HEADERS: list[tuple[bytes, bytes]] = [
    (b"strict-transport-security", b"max-age=31536000;"),
    (b"x-content-type-options", b"nosniff"),
    (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'"),
]
UNAVAILABLE = b"The server could not answer this request; please try again later."
#: An incoming X-Request-Id is kept if it is at most this long and uses only these bytes.
REQUEST_ID_MAX = 128
REQUEST_ID_CHARS = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.:"


def new_request_id() -> str:
    """32 random hex digits (a quarter of ``uuid4().hex``'s cost)."""
    return os.urandom(16).hex()


def request_info(scope: Scope) -> dict[str, Any]:
    """The mutable dict whose items this request's log line will carry."""
    info = scope.get("rulelog.log")
    if info is None:
        info = scope["rulelog.log"] = {}
    return info


def fallback_answer(path: str) -> tuple[int, bytes, bytes]:
    """(status, content type, body) for a request whose handler failed."""
    if path.startswith("/update"):
        return 200, b"text/xml; charset=utf-8", EMPTY_UPDATES.encode()
    if path.startswith("/json/"):
        return 200, b"application/json", b"{}"
    return 503, b"text/plain; charset=utf-8", UNAVAILABLE


def incoming_request_id(scope: Scope) -> str | None:
    """The client's (load balancer's) ``X-Request-Id``, if it is a plain token."""
    for name, value in scope.get("headers", ()):
        if name == b"x-request-id":
            if 0 < len(value) <= REQUEST_ID_MAX and not value.strip(REQUEST_ID_CHARS):
                return value.decode("ascii")
            return None
    return None


class RequestLogMiddleware:
    """Request id, Balrog's headers, one log line per request, metrics, and the catch-all."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        worker: str = "",
        request_log: RequestLog | None = None,
        cache_control: str = "public, max-age=90",
        app_name: str = "public",
        templates: dict[Any, str] | None = None,
    ) -> None:
        self.app = app
        self.request_log = request_log or RequestLog(worker)
        self.app_name = app_name
        self.templates = templates or {}
        self.cache_control = cache_control.encode("latin-1")
        worker_id = self.request_log.worker.encode("latin-1")
        self.extra = [*SECURITY_HEADERS, (b"x-rulelog-worker", worker_id)]
        #: For an answer with a policy of its own (the admin app's HTML pages).
        self.extra_own_csp = [h for h in self.extra if h[0] != b"content-security-policy"]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = incoming_request_id(scope) or new_request_id()
        structlog.contextvars.bind_contextvars(request_id=request_id)
        info = request_info(scope)
        status = 0

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", ()))
                names = {name.lower() for name, _ in headers}
                if b"cache-control" not in names:
                    headers.append((b"cache-control", self.cache_control))
                own_csp = b"content-security-policy" in names
                headers += self.extra_own_csp if own_csp else self.extra
                headers.append((b"x-request-id", request_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except Exception as error:
            info["problem"] = f"{type(error).__name__}: {error}"
            log.error(
                "request.failed", exc_info=True, path=scope.get("path", "")[:LOGGED_TARGET_MAX]
            )
            if status == 0:
                await self._fallback(scope, send_with_headers)
        finally:
            elapsed = time.perf_counter() - started
            try:
                record_request(
                    self.app_name,
                    route_template(scope, self.templates),
                    scope.get("method", ""),
                    status,
                    elapsed,
                    info.get("cache"),
                )
            except Exception as error:  # metrics never cost a request its answer
                info["metrics_problem"] = f"{type(error).__name__}: {error}"
            target = scope.get("raw_path") or b""
            if scope.get("query_string"):
                target += b"?" + scope["query_string"]
            self.request_log.record(request_id, scope["method"], target, status, elapsed, info)
            structlog.contextvars.unbind_contextvars("request_id")

    @staticmethod
    async def _fallback(scope: Scope, send: Send) -> None:
        status, content_type, body = fallback_answer(scope.get("path", ""))
        headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
