"""The public app's dockerflow (``api.dockerflow``), robots, contribute.json and a no-op.

The public heartbeat is Balrog's: the live rule count. A node that has lost
its database keeps answering update requests from its last view
(``__lbheartbeat__`` stays 200, so a load balancer keeps sending it traffic:
an update answer a few seconds old beats none), while the heartbeat says
502, as Balrog does, and how stale the view is, for monitoring. It turns 200
again once the follower has caught up.
"""

from __future__ import annotations

from importlib import metadata

import anyio
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from rulelog.api.content_signature import contribute_json
from rulelog.api.dockerflow import NO_CACHE, Beat, Dockerflow, metrics
from rulelog.api.public.middleware import request_info
from rulelog.api.public.responses import HTML, TEXT, flask_json
from rulelog.api.public.server import PublicServer
from rulelog.api.public.updates import NOT_LOADED

__all__ = ["routes"]

ROBOTS = "# Per bug 997919, we don't want anything indexable\nUser-agent: *\nDisallow: /\n"
#: Seconds the heartbeat waits for the store to answer.
HEARTBEAT_TIMEOUT = 2.0


def routes(server: PublicServer) -> list[Route]:
    """The routes besides ``/api/v1`` and the updates: dockerflow, robots, metrics..."""
    docker = Dockerflow(
        media_type=HTML,
        beat=lambda request: _beat(server, request),
        version_file=lambda request: server.settings.version_file,
        unknown_version=lambda request: _version(server),
    )
    get = ["GET"]
    return [
        Route("/__heartbeat__", docker.heartbeat, methods=get),
        Route("/__lbheartbeat__", docker.lbheartbeat, methods=get),
        Route("/__version__", docker.version, methods=get),
        Route("/__noop__", noop, methods=get),
        Route("/robots.txt", robots, methods=get),
        Route("/metrics", metrics, methods=get),
        Route("/contribute.json", contribute_json, methods=get),
    ]


async def _beat(server: PublicServer, request: Request) -> Beat:
    """The store answers and the index is current: the live rule count, as Balrog."""
    if not server.state.loaded:
        return Beat(503, NOT_LOADED)
    stale = server.follower.stale_for()
    problem = "the log cannot be followed" if stale is not None else None
    if problem is None:
        try:
            with anyio.fail_after(HEARTBEAT_TIMEOUT):
                await anyio.to_thread.run_sync(server.ping, abandon_on_cancel=True)
        except Exception as error:
            problem = f"{type(error).__name__}: {error}"
            stale = server.follower.since_success()
    if problem is not None:
        request_info(request.scope)["problem"] = problem
        position = server.state.index.position
        return Beat(
            502,
            "Can't connect to the database. Serving the view at position"
            f" {position}, stale for {stale:.1f} s.",
        )
    return Beat(200, str(server.state.index.rule_table.count))


def _version(server: PublicServer) -> Response:
    """``/__version__`` without a version file: the installed package and commit."""
    try:
        version = metadata.version("rulelog")
    except metadata.PackageNotFoundError:
        version = "unknown"
    return flask_json({"source": "rulelog", "version": version, "commit": server.settings.commit})


async def robots(request: Request) -> Response:
    return Response(ROBOTS, 200, NO_CACHE, media_type=TEXT)


async def noop(request: Request) -> Response:
    """A constant answer through the same stack: the ceiling benchmarks compare with."""
    return PlainTextResponse("OK")
