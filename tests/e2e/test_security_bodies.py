"""Issue 17, finding 1: bodies the servers must not hold, answered before they are read.

Each server runs as ``rulelog serve`` in a process of its own, so its resident
memory is its own: ten unauthenticated 50 MB bodies must each be refused with
413 and leave the admin server's memory (nearly) where it was. Error answers
quote at most an excerpt of what was sent.
"""

from __future__ import annotations

import json
import select
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from rulelog.api.body_limit import DEFAULT_MAX_BODY_BYTES
from rulelog.api.excerpt import EXCERPT_CHARS
from tests.e2e.processes import RULELOG, environment, serving, wait_ready

ANSWER_DEADLINE = 20.0
MB = 1024 * 1024


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def _status_of(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1])


def _read_answer(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes or a whole answer is in."""
    sock.settimeout(ANSWER_DEADLINE)
    data = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except (ConnectionResetError, TimeoutError):
            return data
        if not chunk:
            return data
        data += chunk
        head, sep, body = data.partition(b"\r\n\r\n")
        if sep:
            lengths = [
                int(line.split(b":", 1)[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length:")
            ]
            if lengths and len(body) >= lengths[0]:
                return data


def send_body(
    port: int, path: str, size: int, *, chunked: bool = False, headers: str = ""
) -> tuple[bytes, int]:
    """POST ``size`` bytes of a JSON array to ``path``; (the answer, bytes sent).

    The body goes out in 1 MB pieces; sending stops as soon as the server has
    answered (it should answer without reading the rest).
    """
    piece = b"[" + b"1," * (MB // 2 - 1) + b"1]"  # 1 MB of valid-looking JSON
    framing = "Transfer-Encoding: chunked" if chunked else f"Content-Length: {size}"
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"{headers}{framing}\r\n\r\n"
    )
    sent = 0
    with socket.create_connection(("127.0.0.1", port), timeout=ANSWER_DEADLINE) as sock:
        sock.sendall(head.encode())
        if not chunked:  # a declared length over the limit is answered at once
            select.select([sock], [], [], ANSWER_DEADLINE)
        try:
            while sent < size and not select.select([sock], [], [], 0)[0]:
                data = piece[: size - sent]
                sock.sendall(b"%x\r\n%s\r\n" % (len(data), data) if chunked else data)
                sent += len(data)
            if chunked and sent >= size:
                sock.sendall(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass
        return _read_answer(sock), sent


class Server:
    def __init__(self, process: subprocess.Popen[bytes], port: int, log: Path) -> None:
        self.process, self.port, self.log = process, port, log


def _serve(kind: str, url: str, log: Path, extra_env: dict[str, str]) -> Iterator[Server]:
    env = environment(**extra_env)
    base = [RULELOG, "--log-level", "WARNING", "--database-url", url]
    # `serve` refuses a SQLite store that does not exist yet: create it with an account.
    subprocess.run([*base, "users", "add", "ops", "--admin"], env=env, check=True)
    with serving(url, kind, log, env=env, before=("--log-level", "WARNING")) as (process, port):
        wait_ready(process, log, lambda: _heartbeat(port) == 200)
        yield Server(process, port, log)


def _heartbeat(port: int) -> int | None:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"GET /__lbheartbeat__ HTTP/1.1\r\nHost: x\r\n\r\n")
        return _status_of(_read_answer(sock))


@pytest.fixture(scope="module")
def admin_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("bodies")
    url = f"sqlite:///{folder / 'rulelog.db'}"
    yield from _serve("admin", url, folder / "admin.log", {})


@pytest.fixture(scope="module")
def public_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("public-bodies")
    url = f"sqlite:///{folder / 'rulelog.db'}"
    yield from _serve("public", url, folder / "public.log", {"RULELOG_MAX_BODY_BYTES": "4096"})


def test_ten_unauthenticated_50_mb_bodies_leave_memory_alone(admin_server: Server) -> None:
    pid = admin_server.process.pid
    send_body(admin_server.port, "/api/rules", 1000)  # warm the server up once
    before = _rss_kib(pid)
    for _ in range(10):
        answer, sent = send_body(admin_server.port, "/api/rules", 50 * MB)
        assert _status_of(answer) == 413, answer[:300]
        assert sent < 50 * MB  # answered before the body was read in full
    grown_mb = (_rss_kib(pid) - before) / 1024
    assert grown_mb < 100, f"resident memory grew by {grown_mb:.0f} MB"


def test_a_streamed_body_is_refused_once_it_passes_the_limit(admin_server: Server) -> None:
    answer, sent = send_body(admin_server.port, "/api/releases", 50 * MB, chunked=True)
    assert _status_of(answer) == 413, answer[:300]
    assert sent < 50 * MB
    assert sent >= DEFAULT_MAX_BODY_BYTES  # what is under the limit is read


def test_a_body_under_the_limit_still_reaches_the_route(admin_server: Server) -> None:
    answer, _ = send_body(admin_server.port, "/api/rules", 2 * MB)
    assert _status_of(answer) in (400, 401), answer[:300]  # not a list, no token: no 413


def test_the_public_server_has_the_configured_limit(public_server: Server) -> None:
    answer, sent = send_body(public_server.port, "/api/v1/rules", 8 * MB)
    assert _status_of(answer) == 413, answer[:300]
    assert sent == 0
    answer, _ = send_body(public_server.port, "/__lbheartbeat__", 1000)
    assert _status_of(answer) != 413


def test_the_public_server_never_reads_a_streamed_body_it_does_not_want(
    public_server: Server,
) -> None:
    """No public route takes a body: a streamed one is answered, not read."""
    answer, sent = send_body(public_server.port, "/api/v1/rules", 50 * MB, chunked=True)
    assert 400 <= _status_of(answer) < 500, answer[:300]
    assert sent < 50 * MB


def test_an_error_quotes_only_an_excerpt_of_the_input(admin_server: Server) -> None:
    comment = "x" * (5 * MB)
    body = json.dumps({"comment": comment, "data_version": "one"}).encode()
    with socket.create_connection(("127.0.0.1", admin_server.port)) as sock:
        head = (
            f"PUT /api/rules/1 HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        sock.sendall(head.encode() + body)
        answer = _read_answer(sock)
    assert 400 <= _status_of(answer) < 500, answer[:300]
    assert len(answer) < 4 * EXCERPT_CHARS + 2000
