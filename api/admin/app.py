"""The admin app: Balrog's admin API v1 under ``/api``, plus rulelog's timeline.

A FastAPI app, separate from the public server, so it can be deployed behind
its own authentication and network policy. Each resource has its own module
with an ``APIRouter``; this module wires them, the authenticator, the read
model and the error mapping. ``RequestLogMiddleware`` (shared with the
public app) gives each request an id and one log line, and turns anything
unexpected into a 503 with a message rather than a 500.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from importlib import metadata

from fastapi import Depends, FastAPI

from rulelog.api import console
from rulelog.api.admin import access, dockerflow, docs, problems
from rulelog.api.admin.cors import Cors
from rulelog.api.admin.head import HeadAsGet
from rulelog.api.admin.reading import CatalogReader
from rulelog.api.auth import Authenticator, JwtSettings
from rulelog.api.body_limit import DEFAULT_MAX_BODY_BYTES, BodyLimit
from rulelog.api.config import open_app, settings, warn_about_defaults
from rulelog.api.logs import configure_process
from rulelog.api.metrics import count_appended_events
from rulelog.api.public.middleware import RequestLogMiddleware
from rulelog.domain.serving.blobs.common import PRODUCTION_ALLOWLIST, Allowlist
from rulelog.services.application import RulelogApp

__all__ = ["AdminSettings", "create_admin_app", "create_app_from_env"]

API_PREFIX = "/api"


@dataclass(frozen=True)
class AdminSettings:
    jwt: JwtSettings | None = None
    version_file: str | None = None
    #: Download hosts release blobs may name (``RULELOG_DOMAIN_ALLOWLIST``).
    allowlist: Allowlist = field(default_factory=lambda: PRODUCTION_ALLOWLIST)
    #: Origins Balrog's UI may call from (``RULELOG_CORS_ORIGINS``, comma-separated; ``*``).
    cors_origins: tuple[str, ...] = ()
    #: The longest request body accepted (``RULELOG_MAX_BODY_BYTES``); longer ones are 413.
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    #: The console's OIDC client id (``RULELOG_CONSOLE_OIDC_CLIENT_ID``): sign-in there.
    console_oidc_client_id: str | None = None

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> AdminSettings:
        loaded = settings(env)
        return cls(
            jwt=JwtSettings.from_settings(loaded),
            version_file=str(loaded.version_file) if loaded.version_file else None,
            allowlist=loaded.allowlist(),
            cors_origins=loaded.origins(),
            max_body_bytes=loaded.max_body_bytes,
            console_oidc_client_id=loaded.console_oidc_client_id,
        )


def _routers() -> list:
    """Every resource's router, imported here so each module stays independent."""
    from rulelog.api.admin import resources

    return resources.ROUTERS


def create_admin_app(service: RulelogApp, settings: AdminSettings | None = None) -> FastAPI:
    settings = settings or AdminSettings()
    try:
        version = metadata.version("rulelog")
    except metadata.PackageNotFoundError:  # running from a source tree
        version = "0.0.0"
    app = FastAPI(
        title="rulelog admin API",
        version=version,
        description=(
            "Balrog's admin API v1 (under /api) and v2 (under /api/v2), served from "
            "rulelog's event log, with time-travel and audit routes under /api/timeline."
        ),
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url=None,  # served from the package, not a CDN: api.admin.docs
        redoc_url=None,
        dependencies=[Depends(access.enforce)],  # every route's need, from access.READS
    )
    count_appended_events(service)
    service.domain_allowlist = settings.allowlist  # blobs are checked as Balrog's admin does
    app.state.service = service
    app.state.settings = settings
    app.state.reader = CatalogReader(service)
    app.state.auth = Authenticator(service, settings.jwt)
    problems.install(app)
    docs.install(app, f"{API_PREFIX}/docs", f"{API_PREFIX}/openapi.json")
    app.router.redirect_slashes = False  # Balrog answers 404 to a trailing slash, not 307
    pages = [(r, console.PREFIX) for r in console.routers()]
    access.install(app, [(dockerflow.router, ""), *((r, API_PREFIX) for r in _routers()), *pages])
    app.include_router(dockerflow.router)
    for router in _routers():
        app.include_router(router, prefix=API_PREFIX)
    for router, prefix in pages:  # HTML pages: not in the API's OpenAPI document
        app.include_router(router, prefix=prefix, include_in_schema=False)
    console.install(app)
    worker = f"admin-{os.getpid()}"
    app.add_middleware(Cors, origins=settings.cors_origins, routes_of=app)
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes)
    app.add_middleware(HeadAsGet)
    app.add_middleware(
        RequestLogMiddleware, worker=worker, cache_control="no-store", app_name="admin"
    )
    return app


def create_app_from_env() -> FastAPI:
    """uvicorn's factory: the store and settings come from ``RULELOG_*`` variables."""
    loaded = settings()
    configure_process(loaded)
    warn_about_defaults(loaded)
    return create_admin_app(open_app(loaded.database_url), AdminSettings.from_env())
