"""The real ``rulelog serve public`` over real HTTP, on SQLite and PostgreSQL.

One server (two workers) per store, started as a subprocess after the real
CLI created an admin and imported the fixture; every recorded Balrog answer
is replayed against it, then a rule change committed through the
application must reach both workers within a second.
"""

from __future__ import annotations

import http.client
import json
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from rulelog.domain.serving.blobs.render import EMPTY_UPDATES
from tests.conftest import DATA, Store
from tests.e2e.processes import (
    cli_ok,
    environment,
    one_server_per_store,  # noqa: F401 (the store fixture)
    serving,
    tail,
    wait_ready,
)

VECTORS = [json.loads(line) for line in (DATA / "expected.jsonl").read_text().splitlines()]
#: The first vector: Firefox 120 on release, answered by rule 1.
RULE_1_URL = VECTORS[0]["url"]
FRESHNESS_BOUND = 1.0


@dataclass
class Server:
    host: str
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    def get(self, target: str, headers: dict[str, str] | None = None) -> http.client.HTTPResponse:
        """One request on a fresh connection (so the kernel may pick either worker)."""
        conn = http.client.HTTPConnection(self.host, self.port, timeout=10)
        conn.request("GET", target, headers=headers or {})
        response = conn.getresponse()
        response.read()
        conn.close()
        return response

    def fetch(self, target: str, headers: dict[str, str] | None = None) -> tuple[int, bytes, Any]:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=10)
        conn.request("GET", target, headers=headers or {})
        response = conn.getresponse()
        body = response.read()
        conn.close()
        return response.status, body, response.headers

    def log_tail(self) -> str:
        return tail(self.log)


@pytest.fixture(scope="module")
def server(store: Store, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    cli_ok(store.url, "users", "add", "t", "--admin")
    cli_ok(store.url, "import", str(DATA / "fixture.json"), "--as", "t")
    with public_server(store, tmp_path_factory.mktemp("public-log") / "server.log") as running:
        yield running


@contextmanager
def public_server(
    store: Store, log: Path, workers: int = 2, settings: dict[str, str] | None = None
) -> Iterator[Server]:
    """``rulelog serve public`` on ``store`` (``settings``: more RULELOG_* variables), ready
    to answer; stopped on leaving (gracefully: the process's shutdown runs)."""
    options = ("--host", "127.0.0.1", "--workers", str(workers))
    env = environment(**(settings or {}))
    with serving(store.url, "public", log, *options, env=env) as (process, port):
        running = Server("127.0.0.1", port, process, log)
        wait_ready(process, log, lambda: running.get("/__lbheartbeat__").status == 200)
        yield running


def _mismatch(vector: dict[str, Any], status: int, body: bytes, headers: Any) -> str | None:
    expected = vector["status"]
    if expected == 500:  # Balrog crashed; rulelog answers "no update"
        if status == 200 and body.decode() in (EMPTY_UPDATES, "{}"):
            return None
        return f"500 vector: got {status} {body[:120]!r}"
    if status != expected:
        return f"status {status} != {expected}: {body[:200]!r}"
    if expected != 200:
        return None
    if body.decode() != vector["body"]:
        return f"body differs: {body[:200]!r}"
    if headers.get("Content-Type") != vector["content_type"]:
        return f"content type {headers.get('Content-Type')!r} != {vector['content_type']!r}"
    if vector.get("rule_id") is not None and headers.get("Rule-ID") != vector["rule_id"]:
        return f"Rule-ID {headers.get('Rule-ID')!r} != {vector['rule_id']!r}"
    return None


def test_every_vector_over_http(server: Server) -> None:
    failures = []
    for index, vector in enumerate(VECTORS):
        status, body, headers = server.fetch(vector["url"], vector.get("headers"))
        problem = _mismatch(vector, status, body, headers)
        if problem:
            failures.append(f"#{index} {vector['url'][:120]}: {problem}")
        assert status != 500
    assert not failures, f"{len(failures)} of {len(VECTORS)} vectors differ:\n" + "\n".join(
        failures
    )
    assert "Traceback" not in server.log_tail()


def _workers(server: Server) -> set[str]:
    """The worker ids answering, found by spreading fresh connections over them."""
    seen: set[str] = set()
    deadline = time.monotonic() + 10
    while len(seen) < 2 and time.monotonic() < deadline:
        seen.add(server.get("/__lbheartbeat__").headers["X-Rulelog-Worker"])
    assert len(seen) == 2, f"saw workers {seen}"
    return seen


def test_rule_change_reaches_every_worker_within_a_second(server: Server, store: Store) -> None:
    workers = _workers(server)
    app = store.open_with_admins()
    before = app.get_rule(1).data_version
    committing = time.monotonic()
    app.update_rule(1, before, {"comment": "freshness check"}, "alice")
    wanted = str(before + 1)
    first_fresh: dict[str, float] = {}
    deadline = committing + 5
    while set(first_fresh) != workers and time.monotonic() < deadline:
        response = server.get(RULE_1_URL)
        worker = response.headers["X-Rulelog-Worker"]
        if response.headers["Rule-Data-Version"] == wanted and worker not in first_fresh:
            first_fresh[worker] = time.monotonic() - committing
    assert set(first_fresh) == workers, f"fresh on {first_fresh} of {workers}"
    assert max(first_fresh.values()) <= FRESHNESS_BOUND, first_fresh
    status, body, _ = server.fetch("/api/v1/rules/1")
    assert status == 200 and json.loads(body)["comment"] == "freshness check"
