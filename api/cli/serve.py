"""``rulelog serve ...``: run the HTTP servers under uvicorn.

``serve public`` runs the Balrog-compatible update server. uvicorn imports
the app from a factory string in every worker process, so each worker builds
and follows its own index; the store is handed over through
``RULELOG_DATABASE_URL`` (and the other settings through ``RULELOG_*``
variables), which worker processes inherit. ``serve admin`` runs the admin
API the same way.
"""

from __future__ import annotations

import os

import click
from click.core import ParameterSource

from api.cli import main
from api.config import ENV_DATABASE_URL, database_url
from api.logs import get_logger

log = get_logger("rulelog.serve")

PUBLIC_FACTORY = "api.public:create_app_from_env"
ADMIN_FACTORY = "api.admin.app:create_app_from_env"


@main.group()
def serve() -> None:
    """Run an HTTP server (the public update server, or the admin API)."""


def _log_level(ctx: click.Context) -> str:
    """Request lines are INFO: shown unless ``--log-level`` was given explicitly."""
    root = ctx.find_root()
    if root.get_parameter_source("log_level") in (ParameterSource.DEFAULT, None):
        return "INFO"
    return str(root.params.get("log_level") or "INFO")


def _run(ctx: click.Context, app: str, factory: str, host: str, port: int, workers: int) -> None:
    """uvicorn, with the store and log level handed to its workers through the environment."""
    import uvicorn  # imported here so the rest of the CLI starts fast

    os.environ[ENV_DATABASE_URL] = database_url(ctx.find_root().obj.get("database_url"))
    os.environ["RULELOG_LOG_LEVEL"] = _log_level(ctx)
    log.warning(f"serve.{app}", host=host, port=port, workers=workers)
    uvicorn.run(
        factory,
        factory=True,
        host=host,
        port=port,
        workers=workers,
        access_log=False,  # the app logs one structured line per request itself
        log_level="warning",
        server_header=False,
        lifespan="on",
    )


@serve.command("public")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to bind.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535))
@click.option(
    "--workers",
    default=1,
    show_default=True,
    type=click.IntRange(min=1),
    help="Worker processes; each builds and follows its own index.",
)
@click.option(
    "--cache-control",
    default=None,
    metavar="VALUE",
    help="Cache-Control of update answers [default: public, max-age=90].",
)
@click.option(
    "--poll-interval",
    default=None,
    type=click.FloatRange(min=0.01),
    help="Seconds between polls of the event log [default: 0.2].",
)
@click.pass_context
def serve_public(
    ctx: click.Context,
    host: str,
    port: int,
    workers: int,
    cache_control: str | None,
    poll_interval: float | None,
) -> None:
    """Serve /update, /json, dockerflow and the read-only /api/v1 from the live view."""
    if cache_control is not None:
        os.environ["RULELOG_CACHE_CONTROL"] = cache_control
    if poll_interval is not None:
        os.environ["RULELOG_POLL_INTERVAL"] = str(poll_interval)
    _run(ctx, "public", PUBLIC_FACTORY, host, port, workers)


@serve.command("admin")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to bind.")
@click.option("--port", default=8001, show_default=True, type=click.IntRange(0, 65535))
@click.option(
    "--workers",
    default=1,
    show_default=True,
    type=click.IntRange(min=1),
    help="Worker processes (each folds the log for its own reads).",
)
@click.pass_context
def serve_admin(ctx: click.Context, host: str, port: int, workers: int) -> None:
    """Serve Balrog's admin API under /api (bearer tokens: `rulelog tokens create`).

    OpenID Connect JWTs are accepted too when RULELOG_JWT_ISSUER, RULELOG_JWT_AUDIENCE
    and RULELOG_JWT_JWKS (a URL or a file) are set. OpenAPI: /api/openapi.json, /api/docs.
    """
    _run(ctx, "admin", ADMIN_FACTORY, host, port, workers)
