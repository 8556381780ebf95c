"""A CLI that never surprises: the whole command tree walked, and its failures one line each."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from rulelog.api.cli import COMMANDS, main
from tests.conftest import DATA, Store

RULELOG = shutil.which("rulelog", path=str(Path(sys.executable).parent)) or "rulelog"
DEMO_URL = (
    "http://127.0.0.1:8000/update/6/Firefox/120.0/20231116134553/WINNT_x86_64-msvc-x64/en-US/"
    "release/Windows_NT%2010.0/ISET:SSE4_2,MEM:16384/default/default/update.xml"
)


def _walk(
    group: click.Group, prefix: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], click.Command]]:
    ctx = click.Context(group)
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        assert command is not None, name
        if isinstance(command, click.Group):
            yield from _walk(command, (*prefix, name))
        else:
            yield (*prefix, name), command


COMMAND_TREE = list(_walk(main))


def test_the_tree_is_complete() -> None:
    names = {" ".join(path) for path, _ in COMMAND_TREE}
    assert {"sc schedule", "users grant", "config", "explain", "serve public"} <= names


@pytest.mark.parametrize(
    ("path", "command"), COMMAND_TREE, ids=lambda p: " ".join(p) if isinstance(p, tuple) else ""
)
def test_every_command_has_json_and_explains_its_options(
    path: tuple[str, ...], command: click.Command
) -> None:
    options = [p for p in command.params if isinstance(p, click.Option)]
    assert any("--json" in p.opts for p in options), f"{' '.join(path)}: no --json"
    help_text = CliRunner().invoke(main, [*path, "--help"], terminal_width=200).output
    for option in options:
        assert option.help, f"{' '.join(path)} {option.opts[0]}: no help"
        if option.required:
            line = next(line for line in help_text.splitlines() if option.opts[0] in line)
            assert re.search(r"\[(.*; )?required\]", line), f"{' '.join(path)} {option.opts[0]}"


def test_help_summaries_come_from_the_commands_themselves() -> None:
    """``COMMANDS`` lets ``rulelog --help`` list commands without importing them."""
    ctx = click.Context(main)
    for name, (module, summary) in COMMANDS.items():
        command = main.get_command(ctx, name)
        assert command is not None and command.callback is not None, name
        assert command.callback.__module__ == module, name
        assert command.get_short_help_str(limit=1000) == summary, name
    assert set(main.commands) == set(COMMANDS)


def _run(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("RULELOG_")}
    return subprocess.run(
        [RULELOG, *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
        env=base | (env or {}),
        check=False,
    )


def _one_line(result: subprocess.CompletedProcess[str], code: int, fragment: str) -> None:
    assert result.returncode == code, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and fragment in lines[0], result.stderr


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_version() -> None:
    result = _run("--version")
    assert result.returncode == 0 and result.stdout.startswith("rulelog ")


@pytest.mark.parametrize("cwd", ["elsewhere", "checkout"])
def test_python_dash_m_rulelog_is_the_same_command(tmp_path: Path, cwd: str) -> None:
    """``python -m rulelog`` runs the same CLI, from any directory (the checkout has a
    ``rulelog/`` folder that is found first there; its subpackages must still load)."""
    where = tmp_path if cwd == "elsewhere" else Path(__file__).resolve().parents[2]
    script = _run("--version").stdout
    module = subprocess.run(
        [sys.executable, "-m", "rulelog", "--version"],
        capture_output=True, text=True, timeout=120, cwd=where, check=False,
    )
    assert module.returncode == 0, module.stderr
    assert module.stdout == script
    listed = subprocess.run(
        [sys.executable, "-m", "rulelog", "--database-url", f"sqlite:///{tmp_path}/x.db",
         "users", "add", "alice", "--admin"],
        capture_output=True, text=True, timeout=120, cwd=where, check=False,
    )
    assert listed.returncode == 0, listed.stderr


def test_a_missing_store_is_refused_naming_its_path(tmp_path: Path) -> None:
    missing = tmp_path / "typo.db"
    _one_line(_run("--database-url", f"sqlite:///{missing}", "rules", "list"), 3, str(missing))
    assert not missing.exists()
    _one_line(_run("rules", "list", cwd=tmp_path), 3, str(tmp_path / "rulelog.db"))


def test_creating_commands_create_the_store(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'new.db'}"
    assert _run("--database-url", url, "users", "add", "alice", "--admin").returncode == 0
    imported = _run(
        "--database-url", url, "import", str(DATA / "fixture.json"), "--as", "alice", "--json"
    )
    assert imported.returncode == 0 and '"rules": 33' in imported.stdout


def test_invalid_choices_and_settings_are_refused_by_one_line(tmp_path: Path) -> None:
    _one_line(_run("--log-level", "LOUD", "config"), 2, "'LOUD' is not one of")
    _one_line(_run("sc", "list", "--kind", "rulez"), 2, "'rulez' is not one of")
    _one_line(_run("config", env={"RULELOG_POLL_INTERVAL": "soon"}), 2, "RULELOG_POLL_INTERVAL")


def test_database_unavailable_is_exit_7() -> None:
    url = f"postgresql+psycopg://postgres@127.0.0.1:{_free_port()}/test"
    _one_line(_run("--database-url", url, "rules", "list"), 7, "database unavailable")


def test_address_in_use_is_exit_8(store: Store) -> None:
    with socket.create_server(("127.0.0.1", 0)) as busy:
        port = busy.getsockname()[1]
        result = _run("--database-url", store.url, "serve", "public", "--port", str(port))
    _one_line(result, 8, "address already in use")


def test_kinds_accept_either_word_and_explain_accepts_a_full_url(tmp_path: Path) -> None:
    assert _run("demo", cwd=tmp_path).returncode == 0
    singular = _run("sc", "list", "--kind", "rule", "--json", cwd=tmp_path)
    plural = _run("sc", "list", "--kind", "rules", "--json", cwd=tmp_path)
    assert singular.returncode == plural.returncode == 0 and singular.stdout == plural.stdout
    assert _run("changes", "--kind", "rules", "--json", cwd=tmp_path).returncode == 0
    explained = _run("explain", DEMO_URL, cwd=tmp_path)
    assert explained.returncode == 0, explained.stderr
    first = explained.stdout.splitlines()[0]
    assert "(None)" not in first and "at position" in first and "T" in first
    nothing = _run("explain", DEMO_URL.replace("/release/", "/no-such-channel/"), cwd=tmp_path)
    assert "why no update: no rule matches" in nothing.stdout
    typo = _run("at", "position:90", "rules", "--channel", "relase", cwd=tmp_path)
    _one_line(typo, 3, "channel relase is unknown")
