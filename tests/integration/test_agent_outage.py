"""The agent outlives a PostgreSQL outage and enacts once the database is back.

The agent (the real ``rulelog agent`` process) reaches PostgreSQL through a
TCP proxy the test controls: the proxy is cut for five seconds (every open
connection dropped, new ones closed at once), then restored. A change that
falls due during the outage must be enacted after it, by the same process.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import suppress
from datetime import timedelta
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.engine import make_url

from rulelog.api.config import open_app
from tests.conftest import Store, _postgres_store
from tests.samples import empty_blob

RULELOG = str(Path(sys.executable).parent / "rulelog")
OUTAGE = 5.0
DEADLINE = 90.0


class TcpProxy:
    """Forwards a local port to ``target``; ``cut`` drops everything until ``restore``."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.up = threading.Event()
        self.up.set()
        self.lock = threading.Lock()
        self.open: list[socket.socket] = []
        self.closing = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.closing:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if not self.up.is_set():
                client.close()  # the database "is gone": the connection ends at once
                continue
            try:
                server = socket.create_connection(self.target)
            except OSError:
                client.close()
                continue
            with self.lock:
                self.open += [client, server]
            for source, sink in ((client, server), (server, client)):
                threading.Thread(target=self._pipe, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        with suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
        for end in (source, sink):
            with suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        self.up.clear()
        with self.lock:
            dropped, self.open = self.open, []
        for sock in dropped:
            with suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def restore(self) -> None:
        self.up.set()

    def close(self) -> None:
        self.closing = True
        self.cut()
        self.listener.close()


def test_proxy_forwards_and_cuts() -> None:
    """The proxy itself: bytes go through; after ``cut`` a connection ends at once."""
    echo = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        with suppress(OSError):
            while True:
                conn, _ = echo.accept()
                with conn:
                    conn.sendall(conn.recv(100))

    threading.Thread(target=serve, daemon=True).start()
    proxy = TcpProxy(echo.getsockname())
    try:
        with socket.create_connection(("127.0.0.1", proxy.port), timeout=10) as conn:
            conn.sendall(b"ping")
            assert conn.recv(100) == b"ping"
        proxy.cut()
        with socket.create_connection(("127.0.0.1", proxy.port), timeout=10) as conn:
            assert conn.recv(100) == b""  # closed by the proxy, nothing forwarded
        proxy.restore()
        with socket.create_connection(("127.0.0.1", proxy.port), timeout=10) as conn:
            conn.sendall(b"back")
            assert conn.recv(100) == b"back"
    finally:
        proxy.close()
        echo.close()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _agent_metrics(port: int) -> dict[tuple[str, str], float]:
    """The agent's /metrics: (sample name, its one label's value) -> value."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as answer:
        text = answer.read().decode()
    return {
        (sample.name, next(iter(sample.labels.values()), "")): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


@pytest.fixture
def pg_store() -> Iterator[Store]:
    yield from _postgres_store()


def _wait_for(condition, what: str) -> None:  # type: ignore[no-untyped-def]
    end = time.monotonic() + DEADLINE
    while time.monotonic() < end:
        if condition():
            return
        time.sleep(0.1)  # polling a condition against a deadline, not synchronisation
    pytest.fail(f"timed out waiting for {what}")


@pytest.mark.postgres
def test_agent_survives_postgres_going_away(pg_store: Store, tmp_path: Path) -> None:
    app = pg_store.open_with_admins()
    app.grant_permission("robot", "scheduled_change", {"actions": ["enact"]}, "alice")
    blob = {**empty_blob("R-1"), "appv": "1", "extv": "1"}
    app.create_release("R-1", "Firefox", blob, "alice")
    rule = app.create_rule(
        {
            "product": "Firefox",
            "channel": "beta",
            "priority": 10,
            "backgroundRate": 100,
            "update_type": "minor",
            "mapping": "R-1",
        },
        "alice",
    )
    url = make_url(pg_store.url)
    proxy = TcpProxy((url.host or "127.0.0.1", url.port or 5432))
    proxied = url.set(port=proxy.port).render_as_string(hide_password=False)
    log = tmp_path / "agent.log"
    metrics_port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("RULELOG_")}
    env |= {"RULELOG_LOG_FORMAT": "json", "RULELOG_AGENT_BACKOFF_MAX": "0.5"}
    with log.open("w") as out:
        agent = subprocess.Popen(
            [
                RULELOG,
                "--database-url",
                proxied,
                "agent",
                "--interval",
                "0.2",
                "--as",
                "robot",
                "--metrics-port",
                str(metrics_port),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
    try:
        _wait_for(lambda: "agent pass:" in log.read_text(), "a first pass through the proxy")
        proxy.cut()
        went_away = time.monotonic()
        _wait_for(lambda: "agent.pass_failed" in log.read_text(), "a failed pass")
        # Scheduled during the outage (directly, not through the proxy), due before it ends.
        when = (app.now() + timedelta(seconds=OUTAGE / 2)).isoformat()
        change = app.schedule_change(
            "rules",
            "update",
            {"rule_id": rule.rule_id, "priority": 11},
            {"when": when},
            "alice",
            data_version=1,
        )
        time.sleep(max(0.0, went_away + OUTAGE - time.monotonic()))  # the outage lasts 5 s
        assert agent.poll() is None, "the agent exited during the outage:\n" + log.read_text()
        proxy.restore()
        fresh = open_app(pg_store.url)
        _wait_for(
            lambda: fresh.get_scheduled_change("rules", change.sc_id).status == "enacted",
            "the change to be enacted after the outage",
        )
        assert fresh.get_rule(rule.rule_id).as_balrog()["priority"] == 11
        assert agent.poll() is None
        assert '"agent.recovered"' in log.read_text()
        samples = _agent_metrics(metrics_port)
        assert samples[("rulelog_agent_failures_total", "OperationalError")] >= 1
        assert samples[("rulelog_agent_enactments_total", "rules")] == 1
        assert samples[("rulelog_agent_runs_total", "ok")] >= 2
    finally:
        agent.terminate()
        agent.wait(timeout=30)
        proxy.close()


@pytest.mark.postgres
def test_agent_once_fails_when_the_database_is_unavailable(pg_store: Store) -> None:
    url = make_url(pg_store.url)
    proxy = TcpProxy((url.host or "127.0.0.1", url.port or 5432))
    proxy.cut()
    try:
        proxied = url.set(port=proxy.port).render_as_string(hide_password=False)
        env = {k: v for k, v in os.environ.items() if not k.startswith("RULELOG_")}
        result = subprocess.run(
            [RULELOG, "--database-url", proxied, "agent", "--once", "--as", "robot"],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
            check=False,
        )
        assert result.returncode == 7, result.stderr
        assert result.stderr.startswith("rulelog: database unavailable")
        assert len(result.stderr.strip().splitlines()) == 1
    finally:
        proxy.close()
