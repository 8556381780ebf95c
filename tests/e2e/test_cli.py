"""The real ``rulelog`` command, run as a subprocess, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from rulelog.api.cli import main
from rulelog.projections.log import read_log
from rulelog.projections.state import Catalog
from rulelog.services.timelines import timeline_of
from tests.conftest import DATA, Store
from tests.e2e.processes import cli_ok, run_cli


def run(store: Store, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return run_cli(store.url, *args, cwd=cwd)


def ok(store: Store, *args: str) -> str:
    return cli_ok(store.url, *args)


def test_import_then_list(store: Store) -> None:
    ok(store, "users", "add", "alice", "--admin")
    out = ok(store, "import", str(DATA / "fixture.json"), "--as", "alice")
    assert "imported 33 rules, 11 releases" in out
    rules = json.loads(ok(store, "rules", "list", "--json"))
    assert len(rules) == 33
    fixture = json.loads((DATA / "fixture.json").read_text())
    assert sorted(r["rule_id"] for r in rules) == sorted(r["rule_id"] for r in fixture["rules"])
    assert {r["data_version"] for r in rules} == {1}
    releases = json.loads(ok(store, "releases", "list", "--json"))
    assert len(releases) == 11
    assert set(releases[0]) == {"name", "product", "read_only", "data_version"}
    shown = json.loads(ok(store, "rules", "show", "firefox-release", "--json"))
    assert shown["rule_id"] == 1 and shown["data_version"] == 1
    release = json.loads(ok(store, "releases", "show", "Firefox-121.0-build1", "--json"))
    assert release["data"]["name"] == "Firefox-121.0-build1"
    events = json.loads(ok(store, "events", "--json", "--limit", "5"))
    assert len(events) == 5
    assert {e["actor"] for e in events} <= {"alice", None}
    assert events[-1]["position"] > events[0]["position"]


def test_bad_import_is_one_line_nonzero_and_stores_nothing(store: Store, tmp_path: Path) -> None:
    bad = json.loads((DATA / "fixture.json").read_text())
    bad["rules"][10]["backgroundRate"] = 150
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(bad))
    ok(store, "users", "add", "alice", "--admin")
    before = json.loads(ok(store, "events", "--json"))
    result = run(store, "import", str(path), "--as", "alice")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "rules[10]" in lines[0] and "backgroundRate" in lines[0]
    assert json.loads(ok(store, "events", "--json")) == before


@pytest.mark.parametrize(
    ("args", "code", "fragment"),
    [
        (("rules", "show", "999"), 3, "rule 999 does not exist"),
        (("releases", "show", "Nope"), 3, "release Nope does not exist"),
        (("import", "/nonexistent/file.json"), 2, "cannot read"),
        (("events", "--limit", "0"), 2, "--limit"),
    ],
)
def test_errors_are_one_line(store: Store, args: tuple[str, ...], code: int, fragment: str) -> None:
    result = run(store, *args)
    assert result.returncode == code
    assert fragment in result.stderr
    assert "Traceback" not in result.stderr


def _command_paths(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every command path, loading lazily registered commands as ``rulelog`` does."""
    paths = [prefix]
    ctx = click.Context(group)
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        if isinstance(command, click.Group):
            paths += _command_paths(command, (*prefix, name))
        else:
            paths.append((*prefix, name))
    return paths


def test_every_command_has_help() -> None:
    """Walks the real command tree, so a new command without help fails here."""
    paths = _command_paths(main)
    assert ("sc", "schedule") in paths and ("users", "grant") in paths
    runner = CliRunner()
    for path in paths:
        result = runner.invoke(main, [*path, "--help"])
        assert result.exit_code == 0, path
        assert "Usage:" in result.output
        assert (main.get_command(click.Context(main), path[0]) if path else main).help


def test_demo_loads_once(tmp_path: Path) -> None:
    first = run_cli(None, "demo", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "loaded demo data: 33 rules" in first.stdout
    assert (tmp_path / "rulelog.db").exists()
    second = run_cli(None, "demo", cwd=tmp_path)
    assert second.returncode == 0
    assert "already has data" in second.stdout


def test_rules_list_from_a_checkpoint_lists_what_the_whole_log_folds(store: Store) -> None:
    """``rules list`` starts from the timeline's newest checkpoint and folds only the
    events after it (a big log is not folded whole): it lists what a fold of the
    whole log lists, changes made after the checkpoint included."""
    app = store.open_with_admins()
    app.import_snapshot(json.loads((DATA / "fixture.json").read_text()), "importer")
    timeline_of(app, every=5).catch_up()
    app.update_rule(1, 1, {"comment": "after the checkpoint"}, "alice")
    app.delete_rule(2, 1, "alice")
    whole = Catalog().fold(read_log(app)).sorted_rules()
    listed = json.loads(ok(store, "rules", "list", "--json"))
    assert listed == json.loads(json.dumps(whole, default=str))
    assert any(r["comment"] == "after the checkpoint" for r in listed)
