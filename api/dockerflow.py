"""Dockerflow (``/__heartbeat__``, ``/__lbheartbeat__``, ``/__version__``) and ``/metrics``,
for both servers.

Both answer the same routes the same way: a heartbeat cached for a minute,
``OK!`` uncached from the load balancer's heartbeat, the deployment's
``version.json`` served as is when there is one, and Prometheus' samples.
What differs is said by the server when it builds its ``Dockerflow``: the
media type of its text answers (the public app is Balrog's public app:
``text/html``; the admin app declares ``text/plain`` in its OpenAPI
document), what its heartbeat checks and answers, and what ``/__version__``
says without a file.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import anyio
from starlette.requests import Request
from starlette.responses import Response

from rulelog.api.metrics import CONTENT_TYPE, metrics_response_body

__all__ = ["HEARTBEAT_HEADERS", "NO_CACHE", "Beat", "Dockerflow", "metrics"]

HEARTBEAT_HEADERS = {"Cache-Control": "public, max-age=60"}
NO_CACHE = {"Cache-Control": "no-cache"}


@dataclass(frozen=True, slots=True)
class Beat:
    """What a heartbeat found: the status to answer and its text."""

    status: int
    text: str


class Dockerflow:
    """One server's dockerflow endpoints (Starlette endpoints: ``request`` -> response).

    ``beat`` checks the server and says what to answer; ``version_file`` names the
    deployment's ``version.json`` (None: none); ``unknown_version`` answers without one.
    """

    def __init__(
        self,
        *,
        media_type: str,
        beat: Callable[[Request], Awaitable[Beat]],
        version_file: Callable[[Request], str | None],
        unknown_version: Callable[[Request], Response],
    ) -> None:
        self.media_type = media_type
        self._beat = beat
        self._version_file = version_file
        self._unknown_version = unknown_version

    async def heartbeat(self, request: Request) -> Response:
        beat = await self._beat(request)
        return Response(beat.text, beat.status, HEARTBEAT_HEADERS, media_type=self.media_type)

    async def lbheartbeat(self, request: Request) -> Response:
        return Response("OK!", 200, NO_CACHE, media_type=self.media_type)

    async def version(self, request: Request) -> Response:
        path = self._version_file(request)
        if path and Path(path).is_file():
            body = await anyio.Path(path).read_bytes()
            return Response(body, 200, NO_CACHE, media_type="application/json")
        return self._unknown_version(request)


async def metrics(request: Request) -> Response:
    """Prometheus' text format: every worker's samples (see ``api.metrics``)."""
    body = await anyio.to_thread.run_sync(metrics_response_body)
    return Response(body, 200, NO_CACHE, media_type=CONTENT_TYPE)
