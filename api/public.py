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
from starlette.types import Receive, Scope, Send

from rulelog.api.body_limit import DEFAULT_MAX_BODY_BYTES, BodyLimit
from rulelog.api.config import open_app, open_timeline, settings, warn_about_defaults
from rulelog.api.content_signature import ContentSignature, SigningSettings, contribute_json
from rulelog.api.logs import configure_process, get_logger
from rulelog.api.metrics import CONTENT_TYPE, metrics_response_body, record_poll
from rulelog.api.public_api import PublicApi, flask_json, problem
from rulelog.api.public_front import DEFAULT_CACHE_ENTRIES, PublicFront, prepare
from rulelog.api.public_middleware import RequestLogMiddleware, request_info
from rulelog.api.request_log import RequestLog
from rulelog.domain.errors import Invalid
from rulelog.domain.serving.blobs.common import ServingSettings
from rulelog.domain.serving.evaluate import Response as Answer
from rulelog.domain.serving.evaluate import evaluate, route_not_found
from rulelog.domain.serving.request import RouteNotFound, RouteRedirect, UpdateRequest, parse
from rulelog.projections.follow import Follower
from rulelog.projections.log import last_position
from rulelog.projections.serving import LiveIndex, ServingState

__all__ = ["PublicServer", "PublicSettings", "create_app_from_env", "create_public_app"]

log = get_logger("rulelog.public")

HTML = "text/html; charset=utf-8"
TEXT = "text/plain; charset=utf-8"
ROBOTS = "# Per bug 997919, we don't want anything indexable\nUser-agent: *\nDisallow: /\n"
NOT_LOADED = "The update index is not loaded yet; try again shortly."
#: Seconds the heartbeat waits for the store to answer.
HEARTBEAT_TIMEOUT = 2.0
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
    #: Update answers cached per index generation (``api.public_front``); 0 turns it off.
    answer_cache: int = DEFAULT_CACHE_ENTRIES
    #: Start from the newest checkpoint of the timeline (after bringing it up to date)
    #: rather than folding the whole log; off, the node folds from position 1.
    start_from_checkpoint: bool = True
    #: Who signs which answers (``api.content_signature``; none by default).
    signing: SigningSettings = field(default_factory=SigningSettings)
    #: The longest request body accepted (``RULELOG_MAX_BODY_BYTES``); longer ones are 413.
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> PublicSettings:
        loaded = settings(env)
        return cls(
            cache_control=loaded.cache_control,
            poll_interval=loaded.poll_interval,
            version_file=str(loaded.version_file) if loaded.version_file else None,
            answer_cache=loaded.answer_cache,
            start_from_checkpoint=loaded.start_from_checkpoint,
            serving=ServingSettings(allowlist=loaded.allowlist()),
            commit=loaded.commit,
            signing=SigningSettings.from_settings(loaded),
            max_body_bytes=loaded.max_body_bytes,
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
        prepare = self._start_from_checkpoint if self.settings.start_from_checkpoint else None
        self.follower = Follower(
            self.store,
            self.state,
            interval=self.settings.poll_interval,
            prepare=prepare,
            on_poll=self._polled,
        )

    def _polled(self, count: int | None) -> None:
        record_poll(self.state.index.position, count, self.follower.last_success)

    def store(self) -> Any:
        """The event store, opened on first use (so a server can start while it is down)."""
        with self._opening:
            if self._store is None:
                self._store = open_app(self.database_url)
            return self._store

    def _start_from_checkpoint(self, app: Any) -> None:
        """Start the index from the newest checkpoint: a node then folds only the tail.

        When the timeline lags the log by more than K events, it is brought up to
        date first (its checkpoints then serve every node started later; nodes
        starting together race safely). Anything failing here only means a fold
        from the start of the log, as without checkpoints.
        """
        try:
            timeline = open_timeline(app)
            head = last_position(app)
            if head - timeline.tracked()[0] > timeline.every:
                head = timeline.catch_up()
            checkpoint = timeline.checkpoint_at_or_before(head)
        except Exception as error:
            log.warning("public.no_checkpoint", error=f"{type(error).__name__}: {error}")
            return
        if checkpoint.position:
            self.state.start_from(checkpoint, app)
        log.info("public.checkpoint", position=checkpoint.position, head=head)

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
        self,
        request: UpdateRequest,
        index: LiveIndex | None = None,
        info: dict[str, Any] | None = None,
    ) -> tuple[Answer, int, bool]:
        """The answer over ``index`` (default: the current generation), the log position
        it was computed at, and whether it is complete (every blob it needed loaded);
        ``info`` (the request's log items) learns whether the blobs were all in memory.

        Evaluation never blocks: blobs the evaluation missed are loaded off the
        event loop and it runs again (a missed blob only voids that attempt).
        """
        index = self.state.index if index is None else index
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
                    return answer, index.position, not view.missing
            await anyio.to_thread.run_sync(index.load_missing, view.missing)
        raise AssertionError("unreachable: the last round returns or raises")


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
        info = request_info(scope)
        if "Rule-ID" in answer.headers:
            info["rule_id"] = answer.headers["Rule-ID"]
        if answer.problem:
            info["problem"] = answer.problem
        prepared = prepare(answer)
        headers = prepared.headers(str(position).encode())
        await send({"type": "http.response.start", "status": answer.status, "headers": headers})
        await send({"type": "http.response.body", "body": prepared.body})

    async def answer(
        self, scope: Scope, index: LiveIndex, info: dict[str, Any] | None = None
    ) -> tuple[Answer, int, bool]:
        """(answer, position, cacheable): whether the same request always gets it
        from this generation (no dice rolled, every blob loaded, index loaded);
        ``info`` (default: the request's log items) learns about the blob cache."""
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
        try:
            answer, position, complete = await self.server.answer(
                request, index, request_info(scope) if info is None else info
            )
        except Invalid as error:  # Balrog's BadDataError: the message, escaped
            return Answer(400, TEXT, html.escape(error.message, quote=False)), position, True
        return answer, position, complete and not answer.varies


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
        """The store answers and the index is current: the live rule count, as Balrog.

        A node that has lost its database keeps answering update requests from
        its last view (``__lbheartbeat__`` stays 200, so a load balancer keeps
        sending it traffic: an update answer a few seconds old beats none),
        while this says 502, as Balrog does, and how stale the view is, for
        monitoring. It turns 200 again once the follower has caught up.
        """
        headers = {"Cache-Control": "public, max-age=60"}
        if not self.server.state.loaded:
            return Response(NOT_LOADED, 503, headers, media_type=HTML)
        stale = self.server.follower.stale_for()
        problem = "the log cannot be followed" if stale is not None else None
        if problem is None:
            try:
                with anyio.fail_after(HEARTBEAT_TIMEOUT):
                    await anyio.to_thread.run_sync(self._ping, abandon_on_cancel=True)
            except Exception as error:
                problem = f"{type(error).__name__}: {error}"
                stale = self.server.follower.since_success()
        if problem is not None:
            request_info(request.scope)["problem"] = problem
            position = self.server.state.index.position
            body = (
                "Can't connect to the database. Serving the view at position"
                f" {position}, stale for {stale:.1f} s."
            )
            return Response(body, 502, headers, media_type=HTML)
        return Response(
            str(self.server.state.index.rule_table.count), 200, headers, media_type=HTML
        )

    def _ping(self) -> None:
        last_position(self.server.store())

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
) -> PublicFront:
    """The public app over ``database_url`` (or an open ``store``); serves after startup."""
    server = PublicServer(database_url, settings, store=store)
    docker, api, updates = Dockerflow(server), PublicApi(server), UpdateEndpoint(server)
    request_log = RequestLog(server.worker)
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
            request_log.close()

    app = Starlette(
        routes=routes,
        middleware=[
            Middleware(
                RequestLogMiddleware,
                request_log=request_log,
                cache_control=server.settings.cache_control,
                templates={r.endpoint: r.path for r in routes if r.path != "/{path:path}"},
            ),
            Middleware(BodyLimit, limit=server.settings.max_body_bytes),
            Middleware(ContentSignature, settings=server.settings.signing),
        ],
        lifespan=lifespan,
    )
    app.router.redirect_slashes = False  # Balrog's routes are exact; "/x/" is not "/x"
    app.state.server = server
    return PublicFront(
        app,
        updates,
        request_log=request_log,
        cache_control=server.settings.cache_control,
        cache_entries=server.settings.answer_cache,
        body_limit=server.settings.max_body_bytes,
        signing=server.settings.signing,
    )


def create_app_from_env() -> PublicFront:
    """The uvicorn factory (``--factory api.public:create_app_from_env``), one per worker."""
    loaded = settings()
    configure_process(loaded)
    warn_about_defaults(loaded)
    return create_public_app(loaded.database_url, PublicSettings.from_env())
