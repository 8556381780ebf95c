"""Real ``rulelog serve`` processes for the end-to-end tests: each started on a free
port with its output in a log file, waited for until it answers, and stopped."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.conftest import Store

RULELOG = shutil.which("rulelog", path=str(Path(sys.executable).parent)) or "rulelog"
STARTUP_DEADLINE = 60.0


@pytest.fixture(scope="module", name="store")
def one_server_per_store(module_store: Store) -> Store:
    """The conftest ``store``, module-scoped, so one server serves every test of a store
    (a module uses it by importing it)."""
    return module_store


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def tail(log: Path, lines: int = 30) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


def environment(**extra: str) -> dict[str, str]:
    """This process's environment without its store: the command line names the store."""
    env = {k: v for k, v in os.environ.items() if k != "RULELOG_DATABASE_URL"}
    return {**env, **extra}


def run_cli(
    url: str | None, *args: str, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """``rulelog --database-url URL ARGS`` (no URL: the default store, in ``cwd``), its
    output captured."""
    store = ("--database-url", url) if url is not None else ()
    return subprocess.run(
        [RULELOG, *store, *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=environment(),
        cwd=cwd,
        check=False,
    )


def cli_ok(url: str, *args: str) -> str:
    """``run_cli`` that must succeed: its standard output."""
    result = run_cli(url, *args)
    assert result.returncode == 0, result.stderr
    return result.stdout


@contextmanager
def serving(
    url: str,
    app: str,
    log: Path,
    *options: str,
    env: dict[str, str] | None = None,
    before: tuple[str, ...] = (),
) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    """``rulelog [BEFORE] --database-url URL serve APP [OPTIONS] --port P``: the process and
    its port; not waited for (see ``wait_ready``), stopped on leaving."""
    port = free_port()
    command = [RULELOG, *before, "--database-url", url, "serve", app, *options]
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [*command, "--port", str(port)],
            stdout=sink,
            stderr=subprocess.STDOUT,
            env=env if env is not None else environment(),
        )
    try:
        yield process, port
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


def wait_ready(process: subprocess.Popen[bytes], log: Path, ready: Callable[[], bool]) -> None:
    """Poll ``ready`` (a connection refused counts as not yet) until it says so, failing
    the test with the log's tail if the server exits or is not ready in time."""
    deadline = time.monotonic() + STARTUP_DEADLINE
    while True:
        if process.poll() is not None:
            pytest.fail(f"server exited with {process.returncode}:\n{tail(log)}")
        try:
            if ready():
                return
        except OSError:
            pass
        if time.monotonic() > deadline:
            pytest.fail(f"server not ready after {STARTUP_DEADLINE}s:\n{tail(log)}")
        time.sleep(0.05)  # readiness polling against a deadline, not synchronisation
