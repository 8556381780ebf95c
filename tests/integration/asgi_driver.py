"""Requests handed to an ASGI app in-process, as raw scopes (no client normalising them)."""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import unquote_to_bytes


class AsgiDriver:
    def __init__(self, app: Any) -> None:
        self.app = app
        self.loop = asyncio.new_event_loop()

    def request(
        self,
        method: str,
        raw_path: bytes,
        query: bytes = b"",
        headers: list[tuple[bytes, bytes]] = (),  # type: ignore[assignment]
        body: bytes = b"",
    ) -> tuple[int, bytes]:
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": method,
            "scheme": "http",
            "path": unquote_to_bytes(raw_path).decode("utf-8", "replace"),
            "raw_path": raw_path,
            "query_string": query,
            "root_path": "",
            "headers": [(b"host", b"test"), *headers],
            "client": ("127.0.0.1", 1),
            "server": ("127.0.0.1", 80),
        }
        messages: list[dict[str, Any]] = []
        sent = False

        async def receive() -> dict[str, Any]:
            nonlocal sent
            if sent:
                return {"type": "http.disconnect"}
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            messages.append(message)

        self.loop.run_until_complete(self.app(scope, receive, send))
        start = next(m for m in messages if m["type"] == "http.response.start")
        data = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.response.body")
        return start["status"], data

    def close(self) -> None:
        self.loop.close()
