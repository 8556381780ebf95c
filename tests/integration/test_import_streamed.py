"""A snapshot import streamed from a file and written in batches: the same events as
one save of it all, and still all or nothing -- on SQLite and PostgreSQL."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import event as sa_event

from rulelog.adapters.batch_writes import AtomicAppender
from rulelog.api.cli import main
from rulelog.domain import ids
from rulelog.domain.catalog.snapshot import plan_import
from rulelog.domain.errors import Conflict
from rulelog.projections.log import last_position, read_log
from rulelog.projections.state import Catalog
from rulelog.services import snapshot_import
from rulelog.services.application import RulelogApp
from rulelog.services.snapshot_import import snapshot_file
from tests.conftest import Store, new_store
from tests.e2e.processes import run_cli

#: The release the extra rules map: its usage index passes two snapshotting intervals.
POPULAR = "Firefox-120.0-build1"


def big_snapshot(fixture: dict[str, Any], extra_rules: int) -> dict[str, Any]:
    """The fixture (rules, releases, shutoffs, pins, an alias) and ``extra_rules`` more
    rules, with ``rules`` written before ``releases`` (the planner reads releases first)."""
    rules = copy.deepcopy(fixture["rules"])
    for rule_id in range(1000, 1000 + extra_rules):
        rules.append(
            {
                "rule_id": rule_id,
                "alias": f"extra-{rule_id}" if rule_id % 7 == 0 else None,
                "product": "Firefox",
                "channel": f"channel-{rule_id % 5}",
                "priority": rule_id % 300,
                "backgroundRate": 100,
                "update_type": "minor",
                "mapping": POPULAR,
                "fallbackMapping": "Firefox-121.0-build1" if rule_id % 3 == 0 else None,
            }
        )
    shown = {"rules": rules}
    shown.update({k: v for k, v in fixture.items() if k != "rules"})
    return shown


def open_store(store: Store) -> RulelogApp:
    app = store.open()
    app.add_user("importer", admin=True, recorded_by="importer")
    return app


def recorded(app: RulelogApp) -> list[tuple[Any, ...]]:
    """Every event as stored, in position order, without its time."""
    notifications = app.recorder.select_notifications(start=1, limit=1_000_000)
    out = []
    for n in notifications:
        state = json.loads(n.state)
        state.pop("timestamp", None)
        out.append((n.id, n.originator_id, n.originator_version, n.topic, state))
    return out


def snapshot_versions(app: RulelogApp, aggregate_id: Any) -> list[int]:
    assert app.snapshots is not None
    return [s.originator_version for s in app.snapshots.recorder.select_events(aggregate_id)]


def write(tmp_path: Path, snapshot: dict[str, Any], name: str = "snapshot.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(snapshot))
    return path


def test_a_streamed_import_records_what_one_save_records(
    store: Store, fixture_snapshot: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(snapshot_import, "BATCH", 40)  # many batches, one transaction
    snapshot = big_snapshot(fixture_snapshot, 120)
    streamed = open_store(store)
    before = last_position(streamed)
    summary = streamed.import_snapshot(snapshot_file(write(tmp_path, snapshot)), "importer")
    assert (summary.rules, summary.releases) == (153, 11)
    assert (summary.emergency_shutoffs, summary.pinnable_releases) == (2, 3)
    with new_store(store.kind) as other:
        saved = open_store(other)
        plan = plan_import(snapshot, saved.find, "importer", assume_new=True)
        assert summary.events == plan.pending_event_count() == last_position(streamed) - before
        saved.save(*plan.aggregates)  # the import as it was: everything in one save
        assert recorded(streamed) == recorded(saved)
        usage = ids.release_usage_id(POPULAR)
        assert snapshot_versions(streamed, usage) == snapshot_versions(saved, usage) == [50, 100]
        assert Catalog().fold(read_log(streamed)).sorted_rules() == (
            Catalog().fold(read_log(saved)).sorted_rules()
        )
    # An in-memory snapshot goes the same way.
    with new_store(store.kind) as third:
        in_memory = open_store(third)
        in_memory.import_snapshot(snapshot, "importer")
        assert recorded(in_memory) == recorded(streamed)


def test_a_failure_after_some_batches_were_written_leaves_nothing(
    store: Store, fixture_snapshot: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(snapshot_import, "BATCH", 25)
    app = open_store(store)
    before = last_position(app)
    written: list[int] = []
    real_append = AtomicAppender.append

    def fail_on_the_fourth(self: AtomicAppender, rows: list[Any]) -> None:
        if len(written) == 3:
            raise OSError("disk full")
        real_append(self, rows)
        written.append(len(rows))

    monkeypatch.setattr(AtomicAppender, "append", fail_on_the_fourth)
    with pytest.raises(OSError, match="disk full"):
        app.import_snapshot(big_snapshot(fixture_snapshot, 200), "importer")
    assert written == [25, 25, 25]
    assert last_position(app) == before
    monkeypatch.setattr(AtomicAppender, "append", real_append)
    app.import_snapshot(fixture_snapshot, "importer")  # the store is usable, positions follow
    positions = [e.position for e in read_log(app, start=before + 1)]
    # Consecutive. (A PostgreSQL sequence keeps the values a rolled-back write took, as
    # after a failed save: a failure while writing may leave a gap before them.)
    assert positions == list(range(positions[0], positions[0] + len(positions)))
    if store.kind == "sqlite":
        assert positions[0] == before + 1


def test_a_clash_found_while_writing_rolls_back_and_is_named(
    store: Store, fixture_snapshot: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(snapshot_import, "BATCH", 25)
    app = open_store(store)
    existing = {k: v for k, v in fixture_snapshot.items() if k == "releases"}
    existing["rules"] = [{**fixture_snapshot["rules"][0], "rule_id": 1150, "alias": None}]
    app.import_snapshot(existing, "importer")
    before = last_position(app)
    statements: list[str] = []
    engine = app.recorder.datastore.engine  # type: ignore[attr-defined]

    def seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement.lstrip().upper())

    sa_event.listen(engine, "before_cursor_execute", seen)
    try:
        snapshot = big_snapshot(fixture_snapshot, 200)
        snapshot["releases"] = []  # they exist: only rule 1150 clashes
        with pytest.raises(Conflict, match=r"rules\[183\] \(rule_id 1150\): rule_id: rule 1150"):
            app.import_snapshot(snapshot, "importer")
    finally:
        sa_event.remove(engine, "before_cursor_execute", seen)
    # The first attempt assumed the rows new and wrote batches until the clash.
    assert sum(s.startswith("INSERT") for s in statements) > 2
    assert last_position(app) == before


def test_a_bad_item_at_the_very_end_of_a_large_file_is_one_line_and_writes_nothing(
    store: Store, fixture_snapshot: dict, tmp_path: Path
) -> None:
    snapshot = big_snapshot(fixture_snapshot, 3000)
    snapshot["pinnable_releases"][-1]["mapping"] = "No-Such-Release"
    path = write(tmp_path, snapshot)
    app = open_store(store)
    before = last_position(app)
    result = run_cli(store.url, "import", str(path), "--as", "importer")
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert "pinnable_releases[2] (Firefox/beta/121.): mapping: no release named" in lines[0]
    assert last_position(app) == before
    snapshot["pinnable_releases"][-1]["mapping"] = "Firefox-121.0-build1"
    write(tmp_path, snapshot)
    result = run_cli(store.url, "import", str(path), "--as", "importer", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["rules"] == 3033


def test_standard_input_is_imported_whole(store: Store, fixture_snapshot: dict) -> None:
    app = open_store(store)
    before = last_position(app)
    args = ["--database-url", store.url, "import", "-", "--as", "importer", "--json"]
    refused = CliRunner().invoke(main, args, input="{not json")
    assert refused.exit_code == 2
    assert "standard input: not valid JSON" in refused.output
    assert last_position(app) == before
    result = CliRunner().invoke(main, args, input=json.dumps(fixture_snapshot))
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["rules"] == len(fixture_snapshot["rules"])
