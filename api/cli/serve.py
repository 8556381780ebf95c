"""``rulelog serve ...``: run the HTTP servers under uvicorn.

``serve public`` runs the Balrog-compatible update server. uvicorn imports
the app from a factory string in every worker process, so each worker builds
and follows its own index; the store is handed over through
``RULELOG_DATABASE_URL`` (and the other settings through ``RULELOG_*``
variables), which worker processes inherit. ``serve admin`` runs the admin
API (and the web console under ``/ui``) the same way; ``serve all`` runs both
on one port, for trying rulelog out.
"""

from __future__ import annotations

import errno
import os
import socket
from collections.abc import Callable
from typing import Any

import click

from rulelog.api.cli import EXIT_ADDRESS_IN_USE, EXIT_INVALID, EXIT_UNEXPECTED, Failure, main
from rulelog.api.cli.context import refuse_missing_store
from rulelog.api.config import ENV_DATABASE_URL, database_url
from rulelog.api.logs import configure_logging, get_logger
from rulelog.api.metrics import (
    MULTIPROC_ENV,
    discard_multiprocess_dir,
    prepare_multiprocess_metrics,
)

log = get_logger("rulelog.serve")

PUBLIC_FACTORY = "rulelog.api.public:create_app_from_env"
ADMIN_FACTORY = "rulelog.api.admin.app:create_app_from_env"
ALL_FACTORY = "rulelog.api.all_in_one:create_app_from_env"


@main.group()
def serve() -> None:
    """Run an HTTP server (the public update server, the admin API, or both)."""


def _run(ctx: click.Context, app: str, factory: str, host: str, port: int, workers: int) -> None:
    """uvicorn, with the store and log level handed to its workers through the environment.

    The port is bound here first, so a busy one is one line and exit 8 rather
    than uvicorn's startup failure; the socket is handed to uvicorn as is.
    """
    root = ctx.find_root().obj
    url = database_url(root.get("database_url"))
    refuse_missing_store(url)
    os.environ[ENV_DATABASE_URL] = url
    os.environ["RULELOG_LOG_LEVEL"] = root.get("log_level") or root["settings"].log_level or "INFO"
    own_metrics_dir = MULTIPROC_ENV not in os.environ
    metrics_dir = prepare_multiprocess_metrics()
    try:
        sock = _bind(host, port)
        log.warning(f"serve.{app}", host=host, port=port, workers=workers, metrics=metrics_dir)
        _serve(app, factory, workers, sock)
    finally:
        if own_metrics_dir:
            discard_multiprocess_dir(metrics_dir)
            os.environ.pop(MULTIPROC_ENV, None)


def _serve(app: str, factory: str, workers: int, sock: socket.socket) -> None:
    import uvicorn  # imported here so the rest of the CLI starts fast

    config = uvicorn.Config(
        factory,
        factory=True,
        workers=workers,
        access_log=False,  # the app logs one structured line per request itself
        log_level="warning",
        log_config=None,  # uvicorn's lines go through rulelog's structured log
        server_header=False,
        lifespan="on",
    )
    server = uvicorn.Server(config)
    try:
        if workers > 1:
            from uvicorn.supervisors import Multiprocess

            Multiprocess(config, sockets=[sock]).run()
        else:
            server.run(sockets=[sock])
    except KeyboardInterrupt:
        pass
    if workers == 1 and not server.started:
        raise Failure(f"serve {app}: the server did not start (see the log)", EXIT_UNEXPECTED)


def _bind(host: str, port: int) -> socket.socket:
    """The listening socket, or a one-line failure (exit 8) when the address is in use."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as error:
        sock.close()
        if error.errno == errno.EADDRINUSE:
            raise Failure(f"{host}:{port}: address already in use", EXIT_ADDRESS_IN_USE) from None
        raise Failure(f"{host}:{port}: cannot listen: {error.strerror}", EXIT_INVALID) from None
    sock.listen(2048)  # uvicorn's default backlog
    sock.set_inheritable(True)
    return sock


def json_logs_option(func: Any) -> Any:
    return click.option(
        "--json", "as_json", is_flag=True, help="Log JSON lines (RULELOG_LOG_FORMAT=json)."
    )(func)


def listen_options(port: int, workers_help: str) -> Callable[[Any], Any]:
    """``--host``, ``--port`` (each server its own default) and ``--workers``."""
    options = [
        click.option("--host", default="127.0.0.1", show_default=True, help="Interface to bind."),
        click.option(
            "--port", default=port, show_default=True, type=click.IntRange(0, 65535), help="Port."
        ),
        click.option(
            "--workers",
            default=1,
            show_default=True,
            type=click.IntRange(min=1),
            help=workers_help,
        ),
    ]

    def apply(func: Any) -> Any:
        for option in reversed(options):
            func = option(func)
        return func

    return apply


def _json_logs(as_json: bool) -> None:
    """A server prints only its log: ``--json`` makes every line JSON, in every worker."""
    if as_json:
        os.environ["RULELOG_LOG_FORMAT"] = "json"
        configure_logging(os.environ.get("RULELOG_LOG_LEVEL", "INFO"), format="json")


@serve.command("public")
@listen_options(8000, "Worker processes; each builds and follows its own index.")
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
@json_logs_option
@click.pass_context
def serve_public(
    ctx: click.Context,
    as_json: bool,
    host: str,
    port: int,
    workers: int,
    cache_control: str | None,
    poll_interval: float | None,
) -> None:
    """Serve /update, /json, dockerflow and the read-only /api/v1 from the live view."""
    _json_logs(as_json)
    if cache_control is not None:
        os.environ["RULELOG_CACHE_CONTROL"] = cache_control
    if poll_interval is not None:
        os.environ["RULELOG_POLL_INTERVAL"] = str(poll_interval)
    _run(ctx, "public", PUBLIC_FACTORY, host, port, workers)


@serve.command("admin")
@listen_options(8001, "Worker processes (each folds the log for its own reads).")
@json_logs_option
@click.pass_context
def serve_admin(ctx: click.Context, as_json: bool, host: str, port: int, workers: int) -> None:
    """Serve Balrog's admin API under /api (bearer tokens: `rulelog tokens create`).

    OpenID Connect JWTs are accepted too when RULELOG_JWT_ISSUER, RULELOG_JWT_AUDIENCE
    and RULELOG_JWT_JWKS (a URL or a file) are set. OpenAPI: /api/openapi.json, /api/docs.
    """
    _json_logs(as_json)
    _run(ctx, "admin", ADMIN_FACTORY, host, port, workers)


@serve.command("all")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to bind.")
@click.option(
    "--port", default=8000, show_default=True, type=click.IntRange(0, 65535), help="Port."
)
@json_logs_option
@click.pass_context
def serve_all(ctx: click.Context, as_json: bool, host: str, port: int) -> None:
    """Serve the update routes, the admin API and the web console on one port (one
    process; for trying rulelog out: production runs `serve public` and `serve admin`).

    Console: http://HOST:PORT/ui/rules; sign in with a token from `rulelog tokens create`.
    """
    _json_logs(as_json)
    shown = f"[{host}]" if ":" in host else host
    click.echo(
        f"rulelog: console at http://{shown}:{port}/ui/rules (sign in with an API token: "
        f"rulelog tokens create USER); updates at http://{shown}:{port}/update/...; "
        f"admin API at http://{shown}:{port}/api/docs",
        err=True,
    )
    _run(ctx, "all", ALL_FACTORY, host, port, 1)
