"""Stand-in HTTP services for tests (an identity provider, Autograph).

Each serves real HTTP on a free local port from a thread of the test process:
a :class:`JsonHandler` subclass says what it answers, a :class:`StubServer`
runs it until ``stop``; a fixture hands out any such server with :func:`running`.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol, TypeVar


class JsonHandler(BaseHTTPRequestHandler):
    """A request handler that answers JSON and logs nothing."""

    def send_json(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


class StubServer:
    """Serves ``handler`` on 127.0.0.1 (``port``) until :meth:`stop`."""

    def serve(self, handler: type[BaseHTTPRequestHandler]) -> None:
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Stoppable(Protocol):
    def stop(self) -> None: ...


ServerT = TypeVar("ServerT", bound=Stoppable)


def running(server: ServerT) -> Iterator[ServerT]:
    """A fixture's body, ``yield from running(server)``: the tests get ``server``,
    which stops when they are done with it."""
    yield server
    server.stop()
