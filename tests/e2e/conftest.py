"""The admin app over real HTTP, shared by the admin end-to-end tests.

One uvicorn server per test session listens on a real socket (in a thread of
the test process); each test points it at a fresh store of its own (SQLite
or PostgreSQL, like every store-touching test) and gets an ``AdminClient``
with tokens for: ``alice`` (admin), ``bob`` (a token, no permission) and
``releng`` (holds whatever a test grants it). Requests go over HTTP with
``http.client``: nothing in-process short-cuts the server.
"""

from __future__ import annotations

import http.client
import json
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import pytest
import uvicorn

from rulelog.api.admin.app import AdminSettings, create_admin_app
from rulelog.api.admin.reading import CatalogReader
from rulelog.api.auth import Authenticator
from rulelog.services.application import RulelogApp
from tests.conftest import Store, _postgres_store
from tests.stub_http import running


@dataclass
class Answer:
    status: int
    body: bytes
    headers: Any  # http.client.HTTPMessage: case-insensitive lookups

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def text(self) -> str:
        return self.body.decode()


class AdminServer:
    """A running admin app whose store a test can swap."""

    def __init__(self, settings: AdminSettings | None = None) -> None:
        placeholder = RulelogApp(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
        self.app = create_admin_app(placeholder, settings or AdminSettings())
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(self.app, log_level="warning", access_log=False, lifespan="off")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [sock]})
        self.thread.daemon = True
        self.thread.start()
        started = threading.Event()
        # uvicorn sets ``started`` once it listens; wait on the flag, not on time.
        while not self.server.started:
            started.wait(0.01)

    def use(self, service: RulelogApp) -> None:
        state = self.app.state
        service.domain_allowlist = state.settings.allowlist
        state.service = service
        state.reader = CatalogReader(service)
        state.auth = Authenticator(service, state.settings.jwt)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@dataclass
class AdminClient:
    """Requests to the admin server, acting as one of the test users (or nobody)."""

    port: int
    service: RulelogApp
    tokens: dict[str, str] = field(default_factory=dict)

    def token_for(self, username: str) -> str:
        if username not in self.tokens:
            self.tokens[username] = self.service.issue_token(username, "tests")[1]
        return self.tokens[username]

    def request(
        self,
        method: str,
        path: str,
        *,
        as_user: str | None = "alice",
        json_body: Any = None,
        raw: bytes | None = None,
        query: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> Answer:
        target = "/api" + path if not path.startswith("/__") else path
        if query:
            target += "?" + urlencode(query)
        sent = dict(headers or {})
        body = raw
        if json_body is not None:
            body = json.dumps(json_body).encode()
            sent.setdefault("Content-Type", "application/json")
        if as_user is not None:
            sent["Authorization"] = f"Bearer {self.token_for(as_user)}"
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.request(method, target, body=body, headers=sent)
            response = conn.getresponse()
            return Answer(response.status, response.read(), response.headers)
        finally:
            conn.close()

    def get(self, path: str, **kw: Any) -> Answer:
        return self.request("GET", path, **kw)

    def post(self, path: str, body: Any = None, **kw: Any) -> Answer:
        return self.request("POST", path, json_body=body, **kw)

    def put(self, path: str, body: Any = None, **kw: Any) -> Answer:
        return self.request("PUT", path, json_body=body, **kw)

    def delete(self, path: str, **kw: Any) -> Answer:
        return self.request("DELETE", path, **kw)

    def event_count(self) -> int:
        return self.service.recorder.max_notification_id() or 0


@pytest.fixture(scope="session")
def admin_server() -> Iterator[AdminServer]:
    yield from running(AdminServer())


@contextmanager
def client_of(server: AdminServer, store: Store) -> Iterator[AdminClient]:
    """A client of ``server``, which now serves ``store`` (admins bootstrapped)."""
    service = store.open_with_admins()
    server.use(service)
    try:
        yield AdminClient(server.port, service)
    finally:
        service.close()


@pytest.fixture
def admin(admin_server: AdminServer, store: Store) -> Iterator[AdminClient]:
    """A client of the admin server, which now serves ``store`` (admins bootstrapped)."""
    with client_of(admin_server, store) as client:
        yield client


@pytest.fixture
def seeded(admin: AdminClient, fixture_snapshot: dict[str, Any]) -> AdminClient:
    """The admin client on the fixture data, alice and bob with tokens (issuing one is an
    event: done before the tests count theirs). A module may define its own."""
    admin.service.import_snapshot(fixture_snapshot, "importer")
    for user in ("alice", "bob"):
        admin.token_for(user)
    return admin


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def module_store(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Store]:
    """A store per module and kind, for modules that start one server for all their tests."""
    if request.param == "sqlite":
        yield Store("sqlite", f"sqlite:///{tmp_path_factory.mktemp('served') / 'rulelog.db'}")
    else:
        yield from _postgres_store()
