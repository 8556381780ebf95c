"""The public, Balrog-compatible update server: an ASGI app over the serving index.

``create_public_app`` builds a Starlette app whose hot path -- ``/update/...``
and ``/json/...`` -- is a plain ASGI callable: the raw path goes to
``domain.request.parse`` (Balrog decodes and routes the path itself, so a
router matching decoded segments would get ``%2F`` wrong), the parsed request
is evaluated over the current ``LiveIndex`` generation, and the answer is
written without building framework request/response objects. Everything
else (dockerflow, ``robots.txt``, the read-only ``/api/v1`` routes) is an
ordinary Starlette route.

Each process builds its own index (``ServingState``) and keeps it current
with a ``Follower`` thread, so workers share nothing but the event store.
``RequestLogMiddleware`` logs one line per request and guarantees that no
answer is ever a 500.
"""

from __future__ import annotations

import contextlib
import html
import os
import threading
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any
from urllib.parse import quote

import anyio
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from api.body_limit import BodyLimit, max_body_bytes
from api.config import open_app, settings, warn_about_defaults
from api.content_signature import ContentSignature, SigningSettings, contribute_json
from api.logs import configure_process, get_logger
from api.metrics import CONTENT_TYPE, metrics_response_body, record_poll
from api.public_api import PublicApi, flask_json, problem
from api.public_middleware import RequestLogMiddleware, request_info
from domain.blobs.common import ServingSettings
from domain.errors import Invalid
from domain.evaluate import Response as Answer
from domain.evaluate import evaluate, route_not_found
from domain.request import RouteNotFound, RouteRedirect, UpdateRequest, parse
from projections.follow import Follower
from projections.serving import ServingState

__all__ = ["PublicServer", "PublicSettings", "create_app_from_env", "create_public_app"]

log = get_logger("rulelog.public")

HTML = "text/html; charset=utf-8"
TEXT = "text/plain; charset=utf-8"
ROBOTS = "# Per bug 997919, we don't want anything indexable\nUser-agent: *\nDisallow: /\n"
NOT_LOADED = "The update index is not loaded yet; try again shortly."
#: Rounds of "load the blobs this evaluation missed, evaluate again" per request.
LOAD_ROUNDS = 8


@dataclass(frozen=True)
class PublicSettings:
    """What a deployment tunes; ``from_env`` reads the ``RULELOG_*`` variables."""

    cache_control: str = "public, max-age=90"
    poll_interval: float = 0.2
    serving: ServingSettings = field(default_factory=ServingSettings)
    version_file: str | None = None
    commit: str = "unknown"
    #: Start the follower thread; tests that drive ``poll_once`` themselves turn it off.
    follow: bool = True
    #: Who signs which answers (``api.content_signature``; none by default).
    signing: SigningSettings = field(default_factory=SigningSettings)

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> PublicSettings:
        loaded = settings(env)
        env = dict(os.environ if env is None else env)  # for settings read elsewhere
        return cls(
            cache_control=loaded.cache_control,
            poll_interval=loaded.poll_interval,
            version_file=str(loaded.version_file) if loaded.version_file else None,
            serving=ServingSettings(allowlist=loaded.allowlist()),
            commit=loaded.commit,
            signing=SigningSettings.from_env(env),
        )


class PublicServer:
    """One process's serving state: the store, the index and its follower."""

    def __init__(
        self,
        database_url: str | None = None,
        settings: PublicSettings | None = None,
        *,
        store: Any = None,
    ) -> None:
        self.database_url = database_url
        self.settings = settings or PublicSettings()
        self.state = ServingState()
        self.worker = uuid.uuid4().hex[:12]
        self._store = store
        self._opening = threading.Lock()
        self.follower = Follower(
            self.store, self.state, interval=self.settings.poll_interval, on_poll=self._polled
        )

    def _polled(self, count: int | None) -> None:
        record_poll(self.state.index.position, count, self.follower.last_success)

    def store(self) -> Any:
        """The event store, opened on first use (so a server can start while it is down)."""
        with self._opening:
            if self._store is None:
                self._store = open_app(self.database_url)
            return self._store

    def start(self) -> None:
        """Load the index before serving; if the store is down, keep retrying in the background."""
        try:
            self.follower.poll_once()
        except Exception as error:
            log.error("public.initial_load_failed", error=f"{type(error).__name__}: {error}")
        if self.settings.follow:
            self.follower.start()
        log.info("public.started", position=self.state.index.position, worker=self.worker)

    def stop(self) -> None:
        self.follower.stop()

    async def answer(
        self, request: UpdateRequest, info: dict[str, Any] | None = None
    ) -> tuple[Answer, int]:
        """The answer and the log position it was computed at.

        Evaluation never blocks: blobs the evaluation missed are loaded off the
        event loop and it runs again (a missed blob only voids that attempt).
        """
        index = self.state.index
        for attempt in range(1, LOAD_ROUNDS + 1):
            view = index.for_request(request)
            if attempt == 1 and info is not None:
                info["cache"] = "miss" if view.missing else "hit"
            try:
                answer = evaluate(request, view, settings=self.settings.serving)
            except Invalid:
                if not view.missing or attempt == LOAD_ROUNDS:
                    raise
            else:
                if not view.missing or attempt == LOAD_ROUNDS:
                    return answer, index.position
            await anyio.to_thread.run_sync(index.load_missing, view.missing)
        raise AssertionError("unreachable: the last round returns or raises")


class UpdateEndpoint:
    """``/update/...`` and ``/json/...`` (and any path no other route takes)."""

    def __init__(self, server: PublicServer) -> None:
        self.server = server

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        answer, position = await self._answer(scope)
        info = request_info(scope)
        if "Rule-ID" in answer.headers:
            info["rule_id"] = answer.headers["Rule-ID"]
        if answer.problem:
            info["problem"] = answer.problem
        body = answer.body.encode("utf-8")
        headers = [
            (b"content-type", answer.content_type.encode("latin-1")),
            (b"content-length", str(len(body)).encode("latin-1")),
        ]
        headers += [
            (k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in answer.headers.items()
        ]
        headers.append((b"x-rulelog-position", str(position).encode()))
        await send({"type": "http.response.start", "status": answer.status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def _answer(self, scope: Scope) -> tuple[Answer, int]:
        position = self.server.state.index.position
        path, query = raw_target(scope)
        try:
            request = parse(path, query, {"User-Agent": _user_agent(scope)})
        except RouteNotFound as error:
            return route_not_found(error), position
        except RouteRedirect as error:
            location = quote(error.location, safe=":/?#[]@!$&'()*+,;=%~")
            return Answer(308, TEXT, f"Redirecting to {location}", {"Location": location}), position
        except Invalid as error:  # connexion's parameter validation: a problem document
            body = problem(400, None, error.message).body.decode()
            return Answer(400, "application/problem+json", body), position
        if scope["method"] not in ("GET", "HEAD"):
            return Answer(405, TEXT, "Method Not Allowed", {"Allow": "GET, HEAD"}), position
        if not self.server.state.loaded:
            return Answer(503, TEXT, NOT_LOADED, {"Retry-After": "1"}), position
        try:
            return await self.server.answer(request, request_info(scope))
        except Invalid as error:  # Balrog's BadDataError: the message, escaped
            return Answer(400, TEXT, html.escape(error.message, quote=False)), position


class UpdateFastPath:
    """Hands ``/update/`` and ``/json/`` straight to the endpoint, before route matching.

    They are nearly all the traffic, and the router would try every other
    route first; no other route starts with these prefixes, so the answer is
    the same as the catch-all route's, only sooner.
    """

    def __init__(self, app: ASGIApp, *, endpoint: UpdateEndpoint) -> None:
        self.app = app
        self.endpoint = endpoint

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(("/update/", "/json/")):
            await self.endpoint(scope, receive, send)
        else:
            await self.app(scope, receive, send)


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


class Dockerflow:
    """``/__heartbeat__``, ``/__lbheartbeat__``, ``/__version__``, plus robots and a no-op."""

    def __init__(self, server: PublicServer) -> None:
        self.server = server

    async def heartbeat(self, request: Request) -> Response:
        """The store answers and the index is loaded: the live rule count, as Balrog."""
        headers = {"Cache-Control": "public, max-age=60"}
        if not self.server.state.loaded:
            return Response(NOT_LOADED, 503, headers, media_type=HTML)
        try:
            with anyio.fail_after(5):
                await anyio.to_thread.run_sync(self._ping, abandon_on_cancel=True)
        except Exception as error:
            request_info(request.scope)["problem"] = f"{type(error).__name__}: {error}"
            return Response("Can't connect to the database.", 502, headers, media_type=HTML)
        return Response(
            str(self.server.state.index.rule_table.count), 200, headers, media_type=HTML
        )

    def _ping(self) -> None:
        self.server.store().recorder.max_notification_id()

    async def lbheartbeat(self, request: Request) -> Response:
        return Response("OK!", 200, {"Cache-Control": "no-cache"}, media_type=HTML)

    async def version(self, request: Request) -> Response:
        path = self.server.settings.version_file
        if path and os.path.exists(path):
            with open(path, encoding="utf-8") as handle:
                text = handle.read()
            return Response(text, 200, {"Cache-Control": "no-cache"}, media_type="application/json")
        try:
            version = metadata.version("rulelog")
        except metadata.PackageNotFoundError:
            version = "unknown"
        commit = self.server.settings.commit
        return flask_json({"source": "rulelog", "version": version, "commit": commit})

    async def robots(self, request: Request) -> Response:
        return Response(ROBOTS, 200, {"Cache-Control": "no-cache"}, media_type=TEXT)

    async def noop(self, request: Request) -> Response:
        """A constant answer through the same stack: the ceiling benchmarks compare with."""
        return PlainTextResponse("OK")


async def metrics_endpoint(request: Request) -> Response:
    """Prometheus' text format: every worker's samples (see ``api.metrics``)."""
    body = await anyio.to_thread.run_sync(metrics_response_body)
    return Response(body, 200, {"Cache-Control": "no-cache"}, media_type=CONTENT_TYPE)


def create_public_app(
    database_url: str | None = None,
    settings: PublicSettings | None = None,
    *,
    store: Any = None,
) -> Starlette:
    """The public app over ``database_url`` (or an open ``store``); serves after startup."""
    server = PublicServer(database_url, settings, store=store)
    docker, api, updates = Dockerflow(server), PublicApi(server), UpdateEndpoint(server)
    routes = [
        Route("/__heartbeat__", docker.heartbeat, methods=["GET"]),
        Route("/__lbheartbeat__", docker.lbheartbeat, methods=["GET"]),
        Route("/__version__", docker.version, methods=["GET"]),
        Route("/__noop__", docker.noop, methods=["GET"]),
        Route("/robots.txt", docker.robots, methods=["GET"]),
        Route("/metrics", metrics_endpoint, methods=["GET"]),
        Route("/contribute.json", contribute_json, methods=["GET"]),
        *api.routes(),
        Route("/{path:path}", updates),
    ]

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await anyio.to_thread.run_sync(server.start)
        try:
            yield
        finally:
            await anyio.to_thread.run_sync(server.stop)

    app = Starlette(
        routes=routes,
        middleware=[
            Middleware(
                RequestLogMiddleware,
                worker=server.worker,
                cache_control=server.settings.cache_control,
                templates={r.endpoint: r.path for r in routes if r.path != "/{path:path}"},
            ),
            Middleware(BodyLimit, limit=max_body_bytes()),
            Middleware(ContentSignature, settings=server.settings.signing),
            Middleware(UpdateFastPath, endpoint=updates),
        ],
        lifespan=lifespan,
    )
    app.router.redirect_slashes = False  # Balrog's routes are exact; "/x/" is not "/x"
    app.state.server = server
    return app


def create_app_from_env() -> Starlette:
    """The uvicorn factory (``--factory api.public:create_app_from_env``), one per worker."""
    loaded = settings()
    configure_process(loaded)
    warn_about_defaults(loaded)
    return create_public_app(loaded.database_url, PublicSettings.from_env())
