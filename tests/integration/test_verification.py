"""What goes live is what was tested: signoff fingerprints and grouped enactment."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from rulelog.domain.workflow.scheduling import ScheduledChange
from rulelog.projections.log import last_position, read_log
from rulelog.projections.state import Catalog
from rulelog.projections.views import derived_view, live_view
from rulelog.services.agent import Agent
from rulelog.services.application import RulelogApp
from rulelog.services.verification import sign_off_verified
from tests.integration.relman_support import relman_guarded

T0 = datetime(2030, 1, 1, tzinfo=UTC)
SOON = {"when": (T0 + timedelta(hours=1)).isoformat()}
LATER = {"when": (T0 + timedelta(hours=5)).isoformat()}


@pytest.fixture
def vf(app: RulelogApp, fixture_snapshot: dict[str, Any]) -> RulelogApp:
    return relman_guarded(app, fixture_snapshot, now=T0)


def state(app: RulelogApp) -> Catalog:
    return Catalog().fold(read_log(app))


def schedule(app: RulelogApp, rule_id: int, priority: int, when: dict[str, str]) -> Any:
    return app.schedule_change(
        "rules",
        "update",
        {"rule_id": rule_id, "priority": priority},
        when,
        "alice",
        data_version=app.get_rule(rule_id).data_version,
    )


def sign(app: RulelogApp, sc: Any) -> ScheduledChange:
    return sign_off_verified(app, state(app), "rules", sc.sc_id, "relman", "rm")


def run(app: RulelogApp, hours: int) -> Any:
    return Agent(app, "robot").run_pass(now=T0 + timedelta(hours=hours))


def test_signoff_records_the_test_view_it_was_given_on(vf: RulelogApp) -> None:
    sc = schedule(vf, 1, 91, SOON)
    signed = sign(vf, sc)
    expected = derived_view(state(vf), "release").fingerprint()
    assert signed.signoff_fingerprints["rm"]["release"] == expected


def test_a_change_added_after_the_signoff_blocks_enactment(vf: RulelogApp) -> None:
    first = schedule(vf, 1, 91, SOON)
    sign(vf, first)
    schedule(vf, 2, 92, LATER)  # the test view of release is not what rm signed off
    report = run(vf, 2)
    assert report.decisions["fingerprint_changed"] == 1
    assert vf.get_rule(1).fields["priority"] == 90
    sign(vf, first)  # given again, on the view as it is now
    report = run(vf, 2)
    assert report.decisions["enacted"] == 1
    assert vf.get_rule(1).fields["priority"] == 91


def test_warn_policy_enacts_and_records_the_mismatch(vf: RulelogApp) -> None:
    first = schedule(vf, 1, 91, SOON)
    sign(vf, first)
    schedule(vf, 2, 92, LATER)
    report = Agent(vf, "robot", policy="warn").run_pass(now=T0 + timedelta(hours=2))
    assert report.decisions["enacted"] == 1
    enacted = vf.get_scheduled_change("rules", first.sc_id)
    assert enacted.verification["fingerprint_mismatch"]


def test_changes_due_together_go_live_in_one_save_as_tested(vf: RulelogApp) -> None:
    one, two = schedule(vf, 1, 91, SOON), schedule(vf, 2, 92, SOON)
    sign(vf, one)
    sign(vf, two)
    tested = derived_view(state(vf), "release")
    before = last_position(vf)
    report = run(vf, 2)
    assert report.enacted == [[("rules", one.sc_id), ("rules", two.sc_id)]]
    new = list(read_log(vf, start=before + 1))
    # One save: contiguous positions, all written in one transaction.
    assert [e.position for e in new] == list(range(before + 1, before + 1 + len(new)))
    assert sum(isinstance(e.event, ScheduledChange.Enacted) for e in new) == 2
    live = live_view(state(vf), "release")
    assert live.fingerprint() == tested.fingerprint()
    record = vf.get_scheduled_change("rules", one.sc_id).verification["channels"]["release"]
    assert record["signed_off"]["rm"] == tested.fingerprint()
    assert record["live_after"] == live.fingerprint()
    assert record["partial"] is False


def test_a_change_due_earlier_goes_live_alone_recorded_as_partial(vf: RulelogApp) -> None:
    early, late = schedule(vf, 1, 91, SOON), schedule(vf, 2, 92, LATER)
    sign(vf, early)
    sign(vf, late)
    report = run(vf, 2)
    assert report.enacted == [[("rules", early.sc_id)]]
    record = vf.get_scheduled_change("rules", early.sc_id).verification["channels"]["release"]
    assert record["partial"] is True and record["still_pending"] == [late.sc_id]
    assert record["live_after"] == live_view(state(vf), "release").fingerprint()
    assert run(vf, 6).enacted == [[("rules", late.sc_id)]]
