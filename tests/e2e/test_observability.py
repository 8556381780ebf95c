"""What an operator watches: /metrics under several workers, request ids, JSON logs, Sentry.

The update server runs as ``rulelog serve public --workers 2`` (a real
process tree) with ``RULELOG_LOG_FORMAT=json``; its stderr is kept in a file
and every line of it must be JSON.
"""

from __future__ import annotations

import gzip
import http.client
import http.server
import io
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import pytest
from prometheus_client.parser import text_string_to_metric_families

from rulelog.api.logs import configure_logging, get_logger
from rulelog.api.metrics import count_appended_events
from tests.conftest import DATA, Store, new_store

BIN = Path(sys.executable).parent
RULELOG = str(BIN / "rulelog")
UPDATE = (
    "/update/6/Firefox/120.0/20231116134553/WINNT_x86_64-msvc-x64/en-US/release/"
    "Windows_NT%2010.0/ISET:SSE4_2,MEM:16384/default/default/update.xml"
)
DEADLINE = 60.0


@dataclass
class Served:
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    def get(self, target: str, headers: dict[str, str] | None = None) -> http.client.HTTPResponse:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        conn.request("GET", target, headers=headers or {})
        response = conn.getresponse()
        response.read()
        conn.close()
        return response

    def metrics(self) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        conn.request("GET", "/metrics")
        response = conn.getresponse()
        text = response.read().decode()
        conn.close()
        assert response.status == 200, text
        return {
            (sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
        }


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _until(condition, what: str, deadline: float = DEADLINE):  # type: ignore[no-untyped-def]
    """Poll ``condition`` until it returns something truthy, within a deadline."""
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        value = condition()
        if value:
            return value
        time.sleep(0.05)  # polling a condition against a deadline, not synchronisation
    pytest.fail(f"timed out waiting for {what}")


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with new_store("sqlite") as store:
        env = {k: v for k, v in os.environ.items() if not k.startswith("RULELOG_")}
        env["RULELOG_LOG_FORMAT"] = "json"
        base = [RULELOG, "--database-url", store.url]
        for args in (
            ["users", "add", "t", "--admin"],
            ["import", str(DATA / "fixture.json"), "--as", "t"],
        ):
            subprocess.run([*base, *args], env=env, check=True, capture_output=True)
        port = _free_port()
        log = tmp_path_factory.mktemp("observability") / "server.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                [*base, "serve", "public", "--port", str(port), "--workers", "2"],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        server = Served(port, process, log)

        def ready() -> bool:
            assert process.poll() is None, log.read_text()
            try:
                return server.get("/__heartbeat__").status == 200
            except OSError:
                return False

        _until(ready, "the server to answer its heartbeat")
        try:
            yield server
        finally:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()


def _requests_200(samples: dict) -> float:  # type: ignore[type-arg]
    return sum(
        value
        for (name, labels), value in samples.items()
        if name == "rulelog_http_requests_total"
        and dict(labels).get("route") == "/update/6/..."
        and dict(labels).get("status") == "200"
    )


def test_metrics_sum_every_worker(served: Served) -> None:
    before = _requests_200(served.metrics())
    answered_by: set[str] = set()
    sent = 0
    deadline = time.monotonic() + DEADLINE
    while len(answered_by) < 2 and time.monotonic() < deadline:  # spread over the workers
        response = served.get(UPDATE)
        assert response.status == 200
        answered_by.add(response.headers["X-Rulelog-Worker"])
        sent += 1
    assert len(answered_by) == 2, "both workers answered update requests"
    # A request is counted just after its answer is sent: wait for the last ones.
    def counted() -> dict | None:  # type: ignore[type-arg]
        samples = served.metrics()
        return samples if _requests_200(samples) - before >= sent else None

    samples = _until(counted, f"{sent} update requests counted")
    assert _requests_200(samples) - before == sent
    positions = [v for (name, _), v in samples.items() if name == "rulelog_projection_position"]
    assert len(positions) == 2 and min(positions) > 0  # one per worker process
    assert any(name == "rulelog_http_request_duration_seconds_bucket" for name, _ in samples)
    def total(metric: str, result: str) -> float:
        return sum(
            v
            for (name, labels), v in samples.items()
            if name == metric and dict(labels).get("result") == result
        )

    # Every update request is either an answer-cache hit or evaluated; every
    # evaluated one says whether its blobs were in memory.
    answered = total("rulelog_answer_cache_total", "hit")
    evaluated = total("rulelog_answer_cache_total", "miss")
    assert answered + evaluated >= sent
    blobs = total("rulelog_blob_cache_total", "hit") + total("rulelog_blob_cache_total", "miss")
    assert blobs >= evaluated > 0


def test_an_incoming_request_id_is_kept_logged_and_returned(served: Served) -> None:
    response = served.get("/robots.txt", {"X-Request-Id": "abc"})
    assert response.headers["X-Request-Id"] == "abc"
    # Update requests are answered before the middleware stack: the same rule holds.
    assert served.get(UPDATE, {"X-Request-Id": "upd-1"}).headers["X-Request-Id"] == "upd-1"

    def logged() -> bool:
        return any(
            json.loads(line).get("request_id") == "abc"
            for line in served.log.read_text().splitlines()
            if line.strip()
        )

    _until(logged, "a log line with request_id abc")
    for unfit in ("a b;c", "x" * 200):  # not a plain token, or too long: a new id
        fresh = served.get("/robots.txt", {"X-Request-Id": unfit})
        assert fresh.headers["X-Request-Id"] not in (None, "", unfit)


def test_every_log_line_is_json(served: Served) -> None:
    served.get(UPDATE)
    served.get("/no/such/route")
    lines = [line for line in served.log.read_text().splitlines() if line.strip()]
    assert len(lines) > 3
    for line in lines:
        parsed = json.loads(line)  # raises on any line that is not JSON
        assert "event" in parsed and "level" in parsed


def test_mozlog_lines_have_balrogs_shape_for_every_library() -> None:
    out = io.StringIO()
    configure_logging("INFO", out, format="mozlog")
    try:
        get_logger("rulelog.test").warning("own.event", answer=42)
        logging.getLogger("sqlalchemy.engine").warning("from %s", "sqlalchemy")
        logging.getLogger("uvicorn.error").error("from uvicorn")
    finally:
        configure_logging("WARNING", format="json")
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    types = [line["Type"] for line in lines]
    assert types == ["rulelog.test", "sqlalchemy.engine", "uvicorn.error"]
    for line in lines:
        assert set(line) == {
            "Timestamp", "Type", "Logger", "Hostname", "EnvVersion", "Severity", "Pid", "Fields"
        }
        assert line["EnvVersion"] == "2.0" and line["Logger"] == "rulelog"
        assert isinstance(line["Timestamp"], int)
    assert lines[0]["Fields"]["msg"] == "own.event" and lines[0]["Fields"]["answer"] == 42
    assert lines[1]["Fields"]["msg"] == "from sqlalchemy" and lines[1]["Severity"] == 4
    assert lines[2]["Severity"] == 3


class _Sentry(http.server.BaseHTTPRequestHandler):
    received: ClassVar[list[bytes]] = []

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", 0))
        body = self.rfile.read(length)
        _Sentry.received.append(gzip.decompress(body) if body[:2] == b"\x1f\x8b" else body)
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args: object) -> None:
        pass


def test_errors_reach_sentry_when_a_dsn_is_set() -> None:
    server = http.server.HTTPServer(("127.0.0.1", 0), _Sentry)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        dsn = f"http://public@127.0.0.1:{server.server_address[1]}/1"
        script = (
            "import sentry_sdk\n"
            "from api.logs import configure_logging, configure_sentry, get_logger\n"
            f"configure_sentry({dsn!r})\n"
            "configure_logging('INFO', format='json')\n"
            "try:\n    1 / 0\nexcept ZeroDivisionError:\n"
            "    get_logger('t').error('sentry.check', exc_info=True)\n"
            "sentry_sdk.flush(10)\n"
        )
        result = subprocess.run(
            [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
        )
        assert result.returncode == 0, result.stderr
        assert any(b"ZeroDivisionError" in body for body in _Sentry.received)
    finally:
        server.shutdown()


def test_appended_events_are_counted_by_kind(store: Store) -> None:
    """The admin server and the agent count what their application saves."""
    from prometheus_client import REGISTRY

    app = store.open()
    count_appended_events(app)

    def created() -> float:
        return REGISTRY.get_sample_value(
            "rulelog_events_appended_total", {"kind": "user.created"}
        ) or 0.0

    before = created()
    app.add_user("metrics-alice", admin=True, recorded_by="tests")
    assert created() == before + 1


def test_the_admin_reader_reports_its_position(store: Store) -> None:
    """The admin server's read model sets the projection gauges each time it catches up."""
    from prometheus_client import REGISTRY

    from rulelog.api.admin.reading import CatalogReader

    app = store.open()
    reader = CatalogReader(app)
    app.add_user("metrics-bob", admin=True, recorded_by="tests")
    with reader.current() as model:
        position = model.catalog.position
    assert position > 0
    assert REGISTRY.get_sample_value("rulelog_projection_position") == position
    assert REGISTRY.get_sample_value("rulelog_projection_lag_events") == position
    app.add_user("metrics-carol", admin=True, recorded_by="tests")
    with reader.current() as model:
        later = model.catalog.position
    assert later > position
    assert REGISTRY.get_sample_value("rulelog_projection_position") == later
    assert REGISTRY.get_sample_value("rulelog_projection_lag_events") == later - position
    with reader.current():
        pass  # nothing new: caught up
    assert REGISTRY.get_sample_value("rulelog_projection_lag_events") == 0
