"""Importing a Balrog snapshot, on SQLite and PostgreSQL."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from rulelog.domain.errors import Conflict, Invalid
from rulelog.projections.log import last_position, read_log
from rulelog.projections.state import Catalog
from rulelog.services.application import RulelogApp


def catalog(app: RulelogApp) -> Catalog:
    return Catalog().fold(read_log(app))


def test_fixture_imports_with_original_ids(app: RulelogApp, fixture_snapshot: dict) -> None:
    summary = app.import_snapshot(fixture_snapshot, changed_by="importer")
    assert (summary.rules, summary.releases) == (33, 11)
    state = catalog(app)
    assert sorted(state.rules) == sorted(r["rule_id"] for r in fixture_snapshot["rules"])
    assert {r["data_version"] for r in state.rules.values()} == {1}
    assert len(state.releases) == 11
    assert len(state.shutoffs) == len(fixture_snapshot.get("emergency_shutoffs", []))
    assert len(state.pins) == len(fixture_snapshot.get("pinnable_releases", []))
    # Every rule column round-trips (absent keys are null).
    for original in fixture_snapshot["rules"]:
        stored = state.rules[original["rule_id"]]
        for key, value in original.items():
            assert stored[key] == value, (original["rule_id"], key)


def test_new_rules_take_ids_after_imported_ones(app: RulelogApp, fixture_snapshot: dict) -> None:
    app.import_snapshot(fixture_snapshot, changed_by="importer")
    top = max(r["rule_id"] for r in fixture_snapshot["rules"])
    release = fixture_snapshot["releases"][0]["name"]
    rule = app.create_rule(
        {
            "product": "Firefox",
            "channel": "x",
            "priority": 1,
            "backgroundRate": 100,
            "update_type": "minor",
            "mapping": release,
        },
        changed_by="alice",
    )
    assert rule.rule_id == top + 1


def _broken(snapshot: dict[str, Any], section: str, index: int, **change: Any) -> dict:
    bad = copy.deepcopy(snapshot)
    bad[section][index].update(change)
    return bad


@pytest.mark.parametrize(
    ("section", "index", "change", "error", "fragment"),
    [
        ("rules", 5, {"backgroundRate": 150}, Invalid, "rules[5] (rule_id 6): backgroundRate"),
        ("rules", 2, {"mapping": "No-Such-Release"}, Invalid, "mapping: no release named"),
        ("rules", 7, {"update_type": "sideways"}, Invalid, "update_type"),
        ("rules", 3, {"rule_id": 1}, Conflict, "rule 1 already exists"),
        ("rules", 4, {"alias": "firefox-release"}, Conflict, "alias"),
        ("releases", 1, {"data": {"schema_version": 1}}, Invalid, "releases[1]"),
        ("releases", 2, {"product": None}, Invalid, "product"),
    ],
)
def test_one_bad_item_stores_nothing(
    app: RulelogApp,
    fixture_snapshot: dict,
    section: str,
    index: int,
    change: dict,
    error: type[Exception],
    fragment: str,
) -> None:
    before = last_position(app)
    with pytest.raises(error, match=None) as info:
        app.import_snapshot(_broken(fixture_snapshot, section, index, **change), "importer")
    assert fragment in str(info.value)
    assert last_position(app) == before


def test_importing_existing_ids_is_refused_and_changes_nothing(
    app: RulelogApp, fixture_snapshot: dict
) -> None:
    app.import_snapshot(fixture_snapshot, changed_by="importer")
    before = last_position(app)
    with pytest.raises(Conflict, match="already exists"):
        app.import_snapshot(fixture_snapshot, changed_by="importer")
    assert last_position(app) == before


def test_events_record_actor_and_utc_time(app: RulelogApp, fixture_snapshot: dict) -> None:
    start = last_position(app) + 1
    app.import_snapshot(fixture_snapshot, changed_by="importer")
    logged = list(read_log(app, start=start))
    assert len(logged) == last_position(app) - start + 1
    assert [e.position for e in logged] == list(range(start, start + len(logged)))
    for entry in logged:
        assert entry.timestamp.utcoffset() is not None
        assert entry.timestamp.utcoffset().total_seconds() == 0
    assert {e.actor for e in logged if e.actor} == {"importer"}
