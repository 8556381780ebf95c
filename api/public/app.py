"""The public, Balrog-compatible update server: the app over one ``PublicServer``.

``create_public_app`` returns a ``PublicFront`` (``api.public.front``), whose
hot path -- ``/update/...`` and ``/json/...`` -- is a plain ASGI callable:
the parsed request is evaluated over the current ``LiveIndex`` generation
and the answer written without framework request/response objects. Everything
else (dockerflow, ``robots.txt``, the read-only ``/api/v1`` routes) is an
ordinary Starlette route inside ``RequestLogMiddleware``, which logs one line
per request and guarantees that no answer is ever a 500.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import anyio
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Route

from rulelog.api.body_limit import BodyLimit
from rulelog.api.config import settings, warn_about_defaults
from rulelog.api.content_signature import ContentSignature
from rulelog.api.logs import configure_process
from rulelog.api.public import dockerflow
from rulelog.api.public.api_v1 import PublicApi
from rulelog.api.public.front import PublicFront
from rulelog.api.public.middleware import RequestLogMiddleware
from rulelog.api.public.sampling import RequestSampler
from rulelog.api.public.server import PublicServer
from rulelog.api.public.settings import PublicSettings
from rulelog.api.public.updates import UpdateEndpoint
from rulelog.api.request_log import RequestLog
from rulelog.services.impact import record_sample

__all__ = ["create_app_from_env", "create_public_app"]


def create_public_app(
    database_url: str | None = None,
    settings: PublicSettings | None = None,
    *,
    store: Any = None,
) -> PublicFront:
    """The public app over ``database_url`` (or an open ``store``); serves after startup."""
    server = PublicServer(database_url, settings, store=store)
    updates = UpdateEndpoint(server)
    request_log = RequestLog(server.worker)
    sampler = sampler_for(server)
    routes = [
        *dockerflow.routes(server),
        *PublicApi(server).routes(),
        Route("/{path:path}", updates),
    ]

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await anyio.to_thread.run_sync(server.start)
        if sampler is not None:
            sampler.start()
        try:
            yield
        finally:
            await anyio.to_thread.run_sync(server.stop)
            request_log.close()
            if sampler is not None:
                await anyio.to_thread.run_sync(sampler.close)

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
        sampler=sampler,
    )


def sampler_for(server: PublicServer) -> RequestSampler | None:
    """The impact sampler of ``server`` (None when the sample rate is 0)."""
    rate, keep = server.settings.impact_sample_rate, server.settings.impact_sample_size
    if rate <= 0:
        return None
    return RequestSampler(lambda batch: record_sample(server.store(), batch, keep), rate)


def create_app_from_env() -> PublicFront:
    """The uvicorn factory (``rulelog.api.public:create_app_from_env``), one per worker."""
    loaded = settings()
    configure_process(loaded)
    warn_about_defaults(loaded)
    return create_public_app(loaded.database_url, PublicSettings.from_env())
