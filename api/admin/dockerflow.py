"""Dockerflow routes, as Balrog's admin app serves them at its root (``api.dockerflow``).

The admin heartbeat says the log's last position when the store answers, 502
when it does not; without a ``version.json``, ``/__version__`` says Balrog's
"unknown".
"""

from __future__ import annotations

import anyio
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from rulelog.api.dockerflow import Beat, Dockerflow, metrics
from rulelog.projections.log import last_position

router = APIRouter(tags=["dockerflow"])

UNKNOWN_VERSION = {
    "source": "https://github.com/mozilla-releng/balrog",
    "version": "unknown",
    "commit": "unknown",
}


async def _beat(request: Request) -> Beat:
    try:
        position = await anyio.to_thread.run_sync(last_position, request.app.state.service)
    except Exception:  # any store failure is exactly what a heartbeat reports
        return Beat(502, "Can't connect to the database.")
    return Beat(200, str(position))


DOCKERFLOW = Dockerflow(
    media_type="text/plain",
    beat=_beat,
    version_file=lambda request: request.app.state.settings.version_file,
    unknown_version=lambda request: JSONResponse(UNKNOWN_VERSION),
)


@router.get("/__heartbeat__", response_class=PlainTextResponse)
async def heartbeat(request: Request) -> Response:
    """200 with the log's last position when the store answers; 502 when it does not."""
    return await DOCKERFLOW.heartbeat(request)


@router.get("/__lbheartbeat__", response_class=PlainTextResponse)
async def lbheartbeat(request: Request) -> Response:
    return await DOCKERFLOW.lbheartbeat(request)


@router.get("/__version__")
async def version(request: Request) -> Response:
    return await DOCKERFLOW.version(request)


router.add_api_route("/metrics", metrics, methods=["GET"], include_in_schema=False)
