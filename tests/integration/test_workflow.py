"""Scheduled changes, signoffs and the agent, end to end on SQLite and PostgreSQL."""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from rulelog.domain.catalog.rules import Rule
from rulelog.domain.errors import Conflict, Invalid, NotFound, PermissionDenied, SignoffRequired
from rulelog.domain.workflow.scheduling import ScheduledChange
from rulelog.projections.log import last_position, read_log
from rulelog.services.agent import Agent
from rulelog.services.application import RulelogApp
from tests.conftest import writes_nothing
from tests.samples import plain_rule

T0 = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
LATER = (T0 + timedelta(hours=1)).isoformat()


@pytest.fixture
def wf(app: RulelogApp, fixture_snapshot: dict[str, Any]) -> RulelogApp:
    """The fixture data, a relman and a qa user, and a 2-role policy on Firefox release."""
    app.now = lambda: T0  # type: ignore[method-assign]
    app.import_snapshot(fixture_snapshot, changed_by="importer")
    for user, role in (("rm", "relman"), ("qa", "qa")):
        app.grant_permission(user, "rule", {"products": ["Firefox"]}, changed_by="alice")
        app.grant_role(user, role, changed_by="alice")
    app.grant_permission("robot", "scheduled_change", {"actions": ["enact"]}, "alice")
    policy = {"product": "Firefox", "channel": "release", "signoffs_required": 1}
    app.add_required_signoff("product", {**policy, "role": "relman"}, changed_by="alice")
    # A second policy on the same product/channel needs the first one's signoff.
    second = app.schedule_change(
        "required_signoffs/product",
        "insert",
        {**policy, "role": "qa"},
        {"when": LATER},
        changed_by="alice",
    )
    app.sign_off("required_signoffs/product", second.sc_id, "relman", "rm")
    app.enact_scheduled_change("required_signoffs/product", second.sc_id, "robot")
    return app


def agent_pass(app: RulelogApp, at: datetime) -> dict[str, int]:
    return dict(Agent(app, "robot").run_pass(now=at).decisions)


def schedule_priority(app: RulelogApp, rule_id: int, priority: int, by: str = "rm") -> Any:
    rule = app.get_rule(rule_id)
    return app.schedule_change(
        "rules",
        "update",
        {"rule_id": rule_id, "priority": priority},
        {"when": LATER},
        changed_by=by,
        data_version=rule.data_version,
    )


def test_signed_off_change_is_enacted_when_due_in_one_save(wf: RulelogApp) -> None:
    sc = schedule_priority(wf, 1, 91)
    assert sc.required == [
        {"role": "qa", "signoffs_required": 1},
        {"role": "relman", "signoffs_required": 1},
    ]
    assert sc.signoffs == {"rm": "relman"}  # Balrog's auto-signoff with the one role held
    wf.sign_off("rules", sc.sc_id, "qa", "qa")
    assert agent_pass(wf, T0) == {"waiting_for_time": 1}
    assert wf.get_rule(1).fields["priority"] == 90
    before = last_position(wf)
    assert agent_pass(wf, T0 + timedelta(hours=2)) == {"enacted": 1}
    assert wf.get_rule(1).fields["priority"] == 91
    new = list(read_log(wf, start=before + 1))
    kinds = {type(e.event) for e in new}
    assert {ScheduledChange.Enacted, Rule.Updated} <= kinds
    updated = next(e for e in new if isinstance(e.event, Rule.Updated))
    enacted = next(e for e in new if isinstance(e.event, ScheduledChange.Enacted))
    assert updated.actor == "rm"  # the change runs as its scheduler, as in Balrog
    assert enacted.event.enacted_by == "robot"
    assert enacted.event.required == sc.required
    # One atomic save: the events are contiguous and share the transaction.
    assert sorted(e.position for e in new) == list(range(before + 1, before + 1 + len(new)))
    assert agent_pass(wf, T0 + timedelta(hours=3)) == {}


def test_unsigned_change_past_its_time_is_not_enacted(wf: RulelogApp) -> None:
    sc = schedule_priority(wf, 1, 92)
    assert agent_pass(wf, T0 + timedelta(days=1)) == {"waiting_for_signoffs": 1}
    assert wf.get_rule(1).fields["priority"] == 90
    assert wf.get_scheduled_change("rules", sc.sc_id).pending


def test_modify_resets_other_signoffs(wf: RulelogApp) -> None:
    sc = schedule_priority(wf, 1, 93)
    wf.sign_off("rules", sc.sc_id, "qa", "qa")
    modified = wf.modify_scheduled_change(
        "rules", sc.sc_id, sc.data_version, "rm", row={"priority": 94}
    )
    assert modified.signoffs == {"rm": "relman"}
    assert modified.data_version == 2
    assert modified.row["priority"] == 94


def _beta_rule(app: RulelogApp) -> Rule:
    """A rule on a channel without a signoff policy, so direct edits are allowed."""
    return app.create_rule(
        {
            "product": "Firefox",
            "channel": "beta",
            "priority": 5,
            "backgroundRate": 100,
            "update_type": "minor",
            "mapping": "Firefox-121.0-build1",
        },
        changed_by="alice",
    )


def _schedule_priority_6(wf: RulelogApp, rule: Rule) -> ScheduledChange:
    return wf.schedule_change(
        "rules",
        "update",
        {"rule_id": rule.rule_id, "priority": 6},
        {"when": LATER},
        changed_by="alice",
        data_version=1,
    )


def test_direct_edit_of_another_field_merges_into_pending_change(wf: RulelogApp) -> None:
    rule = _beta_rule(wf)
    sc = _schedule_priority_6(wf, rule)
    wf.update_rule(rule.rule_id, 1, {"comment": "direct"}, changed_by="alice")
    merged = wf.get_scheduled_change("rules", sc.sc_id)
    assert merged.row["comment"] == "direct" and merged.row["priority"] == 6
    assert merged.base_data_version == 2
    wf.enact_scheduled_change("rules", sc.sc_id, "robot")
    fields = wf.get_rule(rule.rule_id).fields
    assert (fields["priority"], fields["comment"]) == (6, "direct")


def test_direct_edit_of_the_same_field_conflicts_and_changes_nothing(wf: RulelogApp) -> None:
    rule = _beta_rule(wf)
    _schedule_priority_6(wf, rule)
    with writes_nothing(wf), pytest.raises(Conflict, match="priority"):
        wf.update_rule(rule.rule_id, 1, {"priority": 7}, changed_by="alice")
    assert wf.get_rule(rule.rule_id).fields["priority"] == 5


def test_uptake_gated_change_waits_for_the_threshold(wf: RulelogApp) -> None:
    rule = wf.get_rule(1)
    condition = {
        "telemetry_product": "Firefox",
        "telemetry_channel": "release",
        "telemetry_uptake": 50,
    }
    sc = wf.schedule_change(
        "rules",
        "update",
        {"rule_id": 1, "backgroundRate": 100},
        condition,
        changed_by="rm",
        data_version=rule.data_version,
    )
    wf.sign_off("rules", sc.sc_id, "qa", "qa")
    assert agent_pass(wf, T0) == {"waiting_for_uptake": 1}
    wf.report_uptake("Firefox", "release", 40, changed_by="robot")
    assert agent_pass(wf, T0) == {"waiting_for_uptake": 1}
    wf.report_uptake("Firefox", "release", 60, changed_by="robot")
    assert agent_pass(wf, T0) == {"enacted": 1}
    assert wf.get_rule(1).fields["backgroundRate"] == 100


def test_insert_and_delete_changes(wf: RulelogApp) -> None:
    new_rule = plain_rule("Firefox-121.0-build1", priority=1)
    insert = wf.schedule_change("rules", "insert", new_rule, {"when": LATER}, changed_by="rm")
    delete = wf.schedule_change(
        "rules", "delete", {"rule_id": 2}, {"when": LATER}, changed_by="rm", data_version=1
    )
    for sc in (insert, delete):
        wf.sign_off("rules", sc.sc_id, "qa", "qa")
    assert agent_pass(wf, T0 + timedelta(hours=2)) == {"enacted": 2}
    with pytest.raises(NotFound):
        wf.get_rule(2)
    created = [
        r for r in _live_rules(wf) if r.fields["priority"] == 1 and r.fields["channel"] == "release"
    ]
    assert len(created) == 1 and created[0].rule_id > 33


def _live_rules(app: RulelogApp) -> list[Rule]:
    from rulelog.projections.state import Catalog

    return [app.get_rule(i) for i in Catalog().fold(read_log(app)).rules]


def test_stale_change_is_reported_and_left_pending(wf: RulelogApp) -> None:
    release = wf.get_release("Firefox-122.0b3-build1")
    blob = copy.deepcopy(release.blob)
    blob["displayVersion"] = "122.0 Beta 3 (rebuilt)"
    sc = wf.schedule_change(
        "releases",
        "update",
        {"name": release.name, "data": blob},
        {"when": LATER},
        changed_by="alice",
        data_version=release.data_version,
    )
    wf.set_release_read_only(release.name, release.data_version, True, changed_by="alice")
    decisions = agent_pass(wf, T0 + timedelta(hours=2))
    assert decisions == {"stale": 1}
    assert wf.get_scheduled_change("releases", sc.sc_id).pending


# ----------------------------------------------------------------- invariants


def test_one_pending_change_per_row(wf: RulelogApp) -> None:
    schedule_priority(wf, 1, 95)
    with writes_nothing(wf), pytest.raises(Conflict, match="pending scheduled change"):
        schedule_priority(wf, 1, 96)


def _rule_1_priority(when: str, by: str, data_version: int) -> Callable[[RulelogApp], Any]:
    """Scheduling rule 1's priority to 1: refused in each of the ways below."""
    return lambda a: a.schedule_change(
        "rules", "update", {"rule_id": 1, "priority": 1}, {"when": when}, by, data_version
    )


@pytest.mark.parametrize(
    ("attempt", "error"),
    [
        (
            _rule_1_priority(LATER, "rm", 7),
            Conflict,
        ),
        (
            _rule_1_priority("2000-01-01T00:00:00Z", "rm", 1),
            Invalid,
        ),
        (
            _rule_1_priority(LATER, "nobody", 1),
            PermissionDenied,
        ),
        (lambda a: a.update_rule(1, 1, {"priority": 1}, "alice"), SignoffRequired),
        (
            lambda a: a.add_required_signoff(
                "product",
                {"product": "Firefox", "channel": "beta", "role": "relman", "signoffs_required": 2},
                "alice",
            ),
            Invalid,
        ),
        (
            lambda a: a.schedule_change(
                "releases",
                "update",
                {"name": "Firefox-120.0-build1"},
                {
                    "telemetry_product": "Firefox",
                    "telemetry_channel": "release",
                    "telemetry_uptake": 5,
                },
                "alice",
                data_version=1,
            ),
            Invalid,
        ),
    ],
    ids=[
        "stale-base",
        "past-when",
        "no-permission",
        "direct-edit-needs-signoff",
        "more-signoffs-than-holders",
        "uptake-on-a-release",
    ],
)
def test_invariants_refuse_with_typed_errors(
    wf: RulelogApp, attempt: Any, error: type[Exception]
) -> None:
    with writes_nothing(wf), pytest.raises(error):
        attempt(wf)


def test_signoff_rules(wf: RulelogApp) -> None:
    sc = schedule_priority(wf, 1, 97)
    with pytest.raises(PermissionDenied, match="cannot signoff with role"):
        wf.sign_off("rules", sc.sc_id, "relman", "qa")
    wf.sign_off("rules", sc.sc_id, "qa", "qa")
    wf.sign_off("rules", sc.sc_id, "qa", "qa")  # again with the same role: nothing new
    assert wf.get_scheduled_change("rules", sc.sc_id).signoffs == {"rm": "relman", "qa": "qa"}
    wf.revoke_signoff("rules", sc.sc_id, changed_by="qa")
    assert "qa" not in wf.get_scheduled_change("rules", sc.sc_id).signoffs


def test_ended_changes_cannot_change(wf: RulelogApp) -> None:
    sc = schedule_priority(wf, 1, 98)
    wf.cancel_scheduled_change("rules", sc.sc_id, sc.data_version, changed_by="rm")
    before = last_position(wf)
    for attempt in (
        lambda: wf.sign_off("rules", sc.sc_id, "qa", "qa"),
        lambda: wf.modify_scheduled_change("rules", sc.sc_id, 2, "rm", row={"priority": 1}),
        lambda: wf.enact_scheduled_change("rules", sc.sc_id, "robot"),
        lambda: wf.cancel_scheduled_change("rules", sc.sc_id, 2, "rm"),
    ):
        with pytest.raises(Conflict, match="cancelled"):
            attempt()
    assert last_position(wf) == before
    # The row is free again for a new change.
    assert schedule_priority(wf, 1, 99).pending


def test_enacting_needs_the_enact_permission(wf: RulelogApp) -> None:
    sc = schedule_priority(wf, 1, 88)
    wf.sign_off("rules", sc.sc_id, "qa", "qa")
    with pytest.raises(PermissionDenied):
        wf.enact_scheduled_change("rules", sc.sc_id, "qa")
    wf.enact_scheduled_change("rules", sc.sc_id, "robot")
    assert wf.get_rule(1).fields["priority"] == 88
