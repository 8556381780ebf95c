"""``rules list`` and ``releases list`` answer from the listings' rows: the same bytes
as before, both forms.

The expected output is what the commands printed when they listed the folded
catalogue (``print_json`` / ``print_table`` of ``Catalog.sorted_rules()``, and of
the releases' summaries by name); it
must not change whether the rows had to be caught up first (the application
opened) or were already at the head of the log (the application never loaded).
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from rulelog.api.cli.catalog import RULE_TABLE, print_table
from rulelog.api.cli.context import print_json
from rulelog.projections.at import release_summary
from rulelog.projections.log import read_log
from rulelog.projections.state import Catalog
from tests.conftest import DATA, Store
from tests.e2e.processes import cli_ok, environment


def changed_fixture(store: Store) -> None:
    """The fixture, then edits of priorities, aliases and other fields, and deletions."""
    app = store.open_with_admins()
    app.import_snapshot(json.loads((DATA / "fixture.json").read_text()), "importer")
    rule = app.get_rule(1)
    app.update_rule(
        1, rule.data_version, {"priority": 5, "comment": 'a "quoted" \\ comment'}, "alice"
    )
    rule = app.get_rule(2)
    app.update_rule(2, rule.data_version, {"alias": "renamed", "priority": 2**64}, "alice")
    app.delete_rule(3, app.get_rule(3).data_version, "alice")
    app.update_rule(4, app.get_rule(4).data_version, {}, "alice")
    name = "Firefox-121.0-build1"
    app.set_release_read_only(name, app.get_release(name).data_version, True, "alice")


RELEASE_TABLE = ("name", "product", "read_only", "data_version")


def expected(
    store: Store, capsys: pytest.CaptureFixture[str], releases: bool = False
) -> tuple[str, str]:
    """(JSON, table) as the command printed them from the folded catalogue."""
    catalog = Catalog().fold(read_log(store.open()))
    rows = catalog.sorted_rules()
    columns = (*RULE_TABLE, "data_version")
    if releases:
        rows = [release_summary(catalog.releases[n]) for n in sorted(catalog.releases)]
        columns = RELEASE_TABLE
    capsys.readouterr()
    print_json(rows)
    as_json = capsys.readouterr().out
    print_table(rows, columns)
    return as_json, capsys.readouterr().out


def test_rules_list_prints_the_same_bytes_caught_up_or_not(
    store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    changed_fixture(store)
    as_json, table = expected(store, capsys)
    assert cli_ok(store.url, "rules", "list", "--json") == as_json  # rows caught up first
    assert cli_ok(store.url, "rules", "list", "--json") == as_json  # rows at the head
    assert cli_ok(store.url, "rules", "list") == table
    app = store.open()
    app.delete_rule(5, app.get_rule(5).data_version, "alice")
    as_json, table = expected(store, capsys)
    assert cli_ok(store.url, "rules", "list") == table  # behind again: caught up
    assert cli_ok(store.url, "rules", "list", "--json") == as_json
    assert not any(row["rule_id"] == 5 for row in json.loads(as_json))


def test_releases_list_prints_the_same_bytes_caught_up_or_not(
    store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    changed_fixture(store)
    as_json, table = expected(store, capsys, releases=True)
    assert cli_ok(store.url, "releases", "list", "--json") == as_json
    assert cli_ok(store.url, "releases", "list", "--json") == as_json
    assert cli_ok(store.url, "releases", "list") == table
    assert any(row["read_only"] for row in json.loads(as_json))


def loaded_modules(store: Store, *args: str) -> str:
    """What ``python -X importtime -m rulelog ARGS`` imported (its stderr)."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "rulelog", "--database-url", store.url, *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=environment(),
        check=True,
    )
    return done.stderr


def test_rows_at_the_head_are_listed_without_the_application(store: Store) -> None:
    changed_fixture(store)
    first = loaded_modules(store, "rules", "list", "--json")
    assert " rulelog.services.application\n" in first  # behind: the application folds
    second = loaded_modules(store, "rules", "list", "--json")
    for module in ("rulelog.services.application", "rulelog.projections.state", "eventsourcing"):
        assert f" {module}\n" not in second, module
    # A SQLite file's rows are read with the standard library alone.
    assert (" sqlalchemy\n" in second) is (store.kind != "sqlite")


def test_a_rebuild_rebuilds_the_rows(store: Store) -> None:
    changed_fixture(store)
    before = cli_ok(store.url, "rules", "list", "--json")
    rebuilt = json.loads(cli_ok(store.url, "projections", "rebuild", "--json"))
    assert rebuilt["listings"] == {"rules": rebuilt["position"], "releases": rebuilt["position"]}
    assert rebuilt["position"] > 0
    assert cli_ok(store.url, "rules", "list", "--json") == before
