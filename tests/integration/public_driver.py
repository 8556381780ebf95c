"""An in-process client of the public app: raw ASGI calls, answers made comparable."""

from __future__ import annotations

import asyncio
from typing import Any

from rulelog.api.public.front import PublicFront


class Driver:
    """Calls a public app over ASGI and returns (status, headers without request id, body)."""

    def __init__(self, app: PublicFront) -> None:
        self.app = app
        self.server = app.state.server
        self.loop = asyncio.new_event_loop()

    def get(self, url: str) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        path, _, query = url.partition("?")
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": query.encode(),
            "root_path": "",
            "headers": [(b"host", b"test")],
            "client": ("127.0.0.1", 1),
            "server": ("127.0.0.1", 80),
        }
        sent: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        self.loop.run_until_complete(self.app(scope, receive, send))
        headers = [
            (k, v) for k, v in sent[0]["headers"] if k not in (b"x-request-id", b"x-rulelog-worker")
        ]
        return sent[0]["status"], headers, sent[1]["body"]

    def answers(self, urls: list[str]) -> dict[str, Any]:
        """Every URL's answer, once the server has folded what is new in the log."""
        self.server.follower.poll_once()
        return {url: self.get(url) for url in urls}
