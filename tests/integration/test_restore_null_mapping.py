"""A restore brings back a deleted rule exactly as it was, even one without a mapping.

The fixture (imported as stored rows) has rule 32 on nightly with a null
``mapping``, which Balrog's admin API refuses from a client. ``rulelog restore``
reproduces what was there, so its re-insert is validated as the stored row it
brings back (``restores``), while a client's create or scheduled insert without
a mapping is still refused. On SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from rulelog.api.config import open_timeline
from rulelog.domain.catalog.rules import RULE_COLUMNS
from rulelog.domain.errors import Invalid, NotFound
from rulelog.projections.log import last_position
from rulelog.projections.timeline import Timeline
from rulelog.services.agent import Agent
from rulelog.services.application import RulelogApp
from rulelog.services.restore import restore_channel

T0 = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
WHEN = {"when": (T0 + timedelta(hours=1)).isoformat()}


@pytest.fixture
def fx(app: RulelogApp, fixture_snapshot: dict[str, Any]) -> RulelogApp:
    app.now = lambda: T0  # type: ignore[method-assign]
    app.import_snapshot(fixture_snapshot, changed_by="importer")
    app.grant_permission("robot", "scheduled_change", {"actions": ["enact"]}, "alice")
    return app


@pytest.fixture
def tl(fx: RulelogApp) -> Timeline:
    return open_timeline(fx)


def columns(row: dict[str, Any]) -> dict[str, Any]:
    return {c: row.get(c) for c in RULE_COLUMNS}


def nightly_rules(tl: Timeline) -> list[dict[str, Any]]:
    rows = [columns(r) for r in tl.current().rules.values() if r.get("channel") == "nightly"]
    return sorted(rows, key=repr)


def test_a_deleted_rule_without_mapping_is_restored_exactly(fx: RulelogApp, tl: Timeline) -> None:
    before = fx.get_rule(32)
    assert before.fields["mapping"] is None
    then = f"position:{last_position(fx)}"
    nightly_then = nightly_rules(tl)
    rule_ids_then = set(tl.current().rules)
    fx.delete_rule(32, before.data_version, "alice")

    result = restore_channel(fx, tl, "nightly", then, "alice")
    [change] = result["changes"]
    assert (change["change_type"], change["rule_id"]) == ("insert", None)
    sc = fx.get_scheduled_change("rules", change["sc_id"])
    assert sc.restores == {"rule_id": 32, "data_version": before.data_version}
    assert sc.row is not None and sc.row["mapping"] is None

    report = Agent(fx, "robot", policy="refuse").run_pass(now=T0 + timedelta(minutes=6))
    assert report.enacted == [[("rules", change["sc_id"])]]
    assert fx.get_scheduled_change("rules", change["sc_id"]).status == "enacted"
    restored = [r for i, r in tl.current().rules.items() if i not in rule_ids_then]
    assert len(restored) == 1
    assert columns(restored[0]) == columns(before.as_balrog())  # every column, as it was
    assert fx.get_rule(restored[0]["rule_id"]).fields == before.fields
    assert nightly_rules(tl) == nightly_then
    # The restored rule is a rule of its own (a new id, data_version 1); 32 stays deleted.
    assert restored[0]["data_version"] == 1
    with pytest.raises(NotFound):
        fx.get_rule(32)


def test_a_client_still_cannot_create_a_rule_without_mapping(fx: RulelogApp) -> None:
    fields = {k: v for k, v in columns(fx.get_rule(32).as_balrog()).items() if v is not None}
    with pytest.raises(Invalid, match="mapping: must name a release"):
        fx.create_rule(fields, "alice")
    with pytest.raises(Invalid, match="mapping: must name a release"):
        fx.schedule_change("rules", "insert", fields, WHEN, "alice")


def test_a_restore_claim_must_be_the_rule_as_it_was(fx: RulelogApp) -> None:
    rule = fx.get_rule(32)
    fields = columns(rule.as_balrog())
    claim = {"rule_id": 32, "data_version": rule.data_version}
    with pytest.raises(Invalid, match="restores: the row is not rule 32"):
        fx.schedule_change(
            "rules", "insert", {**fields, "priority": 1}, WHEN, "alice", restores=claim
        )
    with pytest.raises(Invalid, match="never had data_version"):
        fx.schedule_change(
            "rules", "insert", fields, WHEN, "alice", restores={"rule_id": 32, "data_version": 99}
        )
    with pytest.raises(Invalid, match="restores"):
        fx.schedule_change("releases", "insert", {"name": "x"}, WHEN, "alice", restores=claim)
    assert fx.schedule_change("rules", "insert", fields, WHEN, "alice", restores=claim).restores


def test_modifying_the_row_of_a_restore_makes_it_a_client_change(
    fx: RulelogApp, tl: Timeline
) -> None:
    rule = fx.get_rule(32)
    then = f"position:{last_position(fx)}"
    fx.delete_rule(32, rule.data_version, "alice")
    [change] = restore_channel(fx, tl, "nightly", then, "alice")["changes"]
    later = {"when": (T0 + timedelta(hours=2)).isoformat()}
    moved = fx.modify_scheduled_change("rules", change["sc_id"], 1, "alice", condition=later)
    assert moved.restores == {"rule_id": 32, "data_version": rule.data_version}
    with pytest.raises(Invalid, match="mapping: must name a release"):
        fx.modify_scheduled_change("rules", change["sc_id"], 2, "alice", row={"priority": 7})
