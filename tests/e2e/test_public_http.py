"""The real ``rulelog serve public`` over real HTTP, on SQLite and PostgreSQL.

One server (two workers) per store, started as a subprocess after the real
CLI created an admin and imported the fixture; every recorded Balrog answer
is replayed against it, then a rule change committed through the
application must reach both workers within a second.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from rulelog.domain.serving.blobs.render import EMPTY_UPDATES
from tests.conftest import DATA, Store

RULELOG = shutil.which("rulelog", path=str(Path(sys.executable).parent)) or "rulelog"
VECTORS = [json.loads(line) for line in (DATA / "expected.jsonl").read_text().splitlines()]
#: The first vector: Firefox 120 on release, answered by rule 1.
RULE_1_URL = VECTORS[0]["url"]
STARTUP_DEADLINE = 60.0
FRESHNESS_BOUND = 1.0


@pytest.fixture(scope="module")
def store(module_store: Store) -> Store:
    """The conftest ``store``, module-scoped so one server serves every test of a store."""
    return module_store


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
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-30:])


def _cli(store: Store, *args: str) -> None:
    env = {k: v for k, v in os.environ.items() if k != "RULELOG_DATABASE_URL"}
    result = subprocess.run(
        [RULELOG, "--database-url", store.url, *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_until_ready(server: Server) -> None:
    deadline = time.monotonic() + STARTUP_DEADLINE
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            pytest.fail(f"server exited with {server.process.returncode}:\n{server.log_tail()}")
        try:
            if server.get("/__lbheartbeat__").status == 200:
                return
        except OSError:
            pass
        time.sleep(0.05)  # readiness polling against a deadline, not synchronisation
    pytest.fail(f"server not ready after {STARTUP_DEADLINE}s:\n{server.log_tail()}")


@pytest.fixture(scope="module")
def server(store: Store, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    _cli(store, "users", "add", "t", "--admin")
    _cli(store, "import", str(DATA / "fixture.json"), "--as", "t")
    with public_server(store, tmp_path_factory.mktemp("public-log") / "server.log") as running:
        yield running


@contextmanager
def public_server(
    store: Store, log: Path, workers: int = 2, settings: dict[str, str] | None = None
) -> Iterator[Server]:
    """``rulelog serve public`` on ``store`` (with ``settings``: more RULELOG_* variables),
    ready to answer; stopped on leaving (a graceful stop: the process's shutdown runs)."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k != "RULELOG_DATABASE_URL"}
    env.update(settings or {})
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [
                *(RULELOG, "--database-url", store.url, "serve", "public"),
                *("--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)),
            ],
            stdout=sink,
            stderr=subprocess.STDOUT,
            env=env,
        )
    running = Server("127.0.0.1", port, process, log)
    try:
        _wait_until_ready(running)
        yield running
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


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
