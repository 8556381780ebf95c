"""Balrog history rows -> domain events, without any database (``domain.balrog_replay``)."""

from __future__ import annotations

from typing import Any

import pytest

from rulelog.domain import ids
from rulelog.domain.balrog.replay import BalrogReplay, ImportRowError
from rulelog.domain.balrog.rows import HistoryRow
from rulelog.domain.catalog.rules import Rule
from rulelog.domain.workflow.scheduling import PendingTarget, ScheduledChange
from tests.balrog.scenarios import blob, rule

T0 = 1_700_000_000_000
_ids = iter(range(1, 10_000))


def row(table: str, ts: int, by: str = "bob", **values: Any) -> HistoryRow:
    return HistoryRow(table, next(_ids), by, ts, values)


def full_rule(rule_id: int, dv: int, **fields: Any) -> dict[str, Any]:
    return {"rule_id": rule_id, **rule("Firefox-120.0-build1", **fields), "data_version": dv}


def topics(events: list[Any]) -> list[str]:
    return [type(e).TOPIC for e in events]


def test_insert_update_delete_become_their_events_at_their_times() -> None:
    replay = BalrogReplay()
    replay.apply(row("rules", T0 - 1, rule_id=1))  # the mark before the insert
    replay.apply(row("rules", T0, **full_rule(1, 1)))
    replay.apply(row("rules", T0 + 5, by="ed", **full_rule(1, 2, priority=7)))
    replay.apply(row("rules", T0 + 9, by="del", rule_id=1))
    events = [e for e in replay.take_events() if e.originator_id == ids.rule_id(1)]
    assert topics(events) == [Rule.Created.TOPIC, Rule.Updated.TOPIC, Rule.Deleted.TOPIC]
    assert [int(e.timestamp.timestamp() * 1000) for e in events] == [T0, T0 + 5, T0 + 9]
    assert [e.changed_by for e in events] == ["bob", "ed", "del"]
    assert events[1].changes == {"priority": 7}
    assert replay.report.insert_marks == 1


def test_a_data_version_gap_is_filled_and_reported() -> None:
    replay = BalrogReplay()
    replay.apply(row("rules", T0, **full_rule(1, 1)))
    replay.apply(row("rules", T0 + 1, **full_rule(1, 4, priority=3)))
    rule_agg = replay.get(ids.rule_id(1), Rule)
    assert rule_agg is not None and rule_agg.data_version == 4
    assert len(replay.report.gaps) == 1 and "1 -> 4" in replay.report.gaps[0]


def test_a_data_version_going_back_names_table_row_and_field() -> None:
    replay = BalrogReplay()
    replay.apply(row("rules", T0, **full_rule(1, 3)))
    bad = row("rules", T0 + 1, **full_rule(1, 2))
    with pytest.raises(ImportRowError) as error:
        replay.apply(bad)
    assert error.value.message.startswith(f"rules_history change_id {bad.change_id}: data_version")
    assert error.value.field == "data_version"


def test_a_blob_must_name_its_release() -> None:
    replay = BalrogReplay()
    data = blob("Firefox-120.0-build1")
    with pytest.raises(ImportRowError, match="data: the blob names"):
        replay.apply(row("releases", T0, name="Other", product="Firefox", read_only=False,
                         data=data, data_version=1))


def sc_row(ts: int, sc_id: int, dv: int, *, complete: bool = False, **extra: Any) -> HistoryRow:
    base = {f"base_{k}": v for k, v in full_rule(1, 1).items()}
    return row("rules_scheduled_changes", ts, sc_id=sc_id, scheduled_by="bob", complete=complete,
               change_type="update", **base, data_version=dv, when=T0 + 60_000, **extra)


def test_a_scheduled_change_lives_signed_revoked_and_enacted() -> None:
    replay = BalrogReplay()
    replay.apply(row("rules", T0, **full_rule(1, 1)))
    replay.apply(sc_row(T0 + 1, 5, 1))
    signoffs = "rules_scheduled_changes_signoffs"
    replay.apply(row(signoffs, T0 + 2, by="dave", sc_id=5, username="dave", role="relman"))
    replay.apply(row(signoffs, T0 + 3, by="dave", sc_id=5, username="dave"))  # revoked
    replay.apply(row(signoffs, T0 + 3, by="eve", sc_id=5, username="eve"))  # nothing to revoke
    replay.apply(row(signoffs, T0 + 4, by="dave", sc_id=5, username="dave", role="relman"))
    replay.apply(sc_row(T0 + 5, 5, 2, complete=True))
    sc = replay.get(ids.scheduled_change_id("rules", 5), ScheduledChange)
    assert sc is not None and sc.status == "enacted" and sc.signoffs == {"dave": "relman"}
    assert sc.condition == {"when": "2023-11-14T22:14:20+00:00"} and sc.target == "1"
    lock = replay.get(ids.pending_target_id("rules", "1"), PendingTarget)
    assert lock is not None and lock.sc_id is None
    assert [t.split(".")[-1] for t in topics(replay.take_events()) if "scheduled" in t] == [
        "scheduled", "signed-off", "signoff-revoked", "signed-off", "enacted"]


def test_a_cancelled_change_is_a_keys_only_row() -> None:
    replay = BalrogReplay()
    replay.apply(row("rules", T0, **full_rule(1, 1)))
    replay.apply(sc_row(T0 + 1, 6, 1))
    replay.apply(row("rules_scheduled_changes", T0 + 2, sc_id=6))
    sc = replay.get(ids.scheduled_change_id("rules", 6), ScheduledChange)
    assert sc is not None and sc.status == "cancelled"


def test_a_deleted_rule_id_used_again_is_refused() -> None:
    replay = BalrogReplay()
    replay.apply(row("rules", T0, **full_rule(1, 1)))
    replay.apply(row("rules", T0 + 1, rule_id=1))
    with pytest.raises(ImportRowError, match="rule_id: rule 1 is created again"):
        replay.apply(row("rules", T0 + 2, **full_rule(1, 1)))
