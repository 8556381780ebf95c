"""Dockerflow routes, as Balrog's admin app serves them at its root."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from rulelog.api.metrics import CONTENT_TYPE, metrics_response_body
from rulelog.projections.log import last_position

router = APIRouter(tags=["dockerflow"])

UNKNOWN_VERSION = {
    "source": "https://github.com/mozilla-releng/balrog",
    "version": "unknown",
    "commit": "unknown",
}


@router.get("/__heartbeat__", response_class=PlainTextResponse)
def heartbeat(request: Request) -> Response:
    """200 with the log's last position when the store answers; 502 when it does not."""
    try:
        position = last_position(request.app.state.service)
    except Exception:  # any store failure is exactly what a heartbeat reports
        return PlainTextResponse(
            "Can't connect to the database.",
            status_code=502,
            headers={"Cache-Control": "public, max-age=60"},
        )
    return PlainTextResponse(str(position), headers={"Cache-Control": "public, max-age=60"})


@router.get("/__lbheartbeat__", response_class=PlainTextResponse)
def lbheartbeat() -> Response:
    return PlainTextResponse("OK!", headers={"Cache-Control": "no-cache"})


@router.get("/__version__")
def version(request: Request) -> Response:
    path = request.app.state.settings.version_file
    if path and Path(path).is_file():
        return Response(
            Path(path).read_bytes(),
            media_type="application/json",
            headers={"Cache-Control": "no-cache"},
        )
    return JSONResponse(UNKNOWN_VERSION)


@router.get("/metrics", include_in_schema=False)
def prometheus_metrics() -> Response:
    """Prometheus' text format: every worker's samples (see ``api.metrics``)."""
    return Response(
        metrics_response_body(), media_type=CONTENT_TYPE, headers={"Cache-Control": "no-cache"}
    )
