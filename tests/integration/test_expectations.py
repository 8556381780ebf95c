"""Expectations on SQLite and PostgreSQL: checks on live and test views, blocked
signoffs and their override, enactment reports, time travel, atomic import."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from rulelog.api.config import open_timeline
from rulelog.domain.errors import Conflict, Invalid
from rulelog.domain.workflow.expectations import parse_import
from rulelog.projections.expectations import check_state
from rulelog.projections.log import read_log
from rulelog.projections.state import Catalog
from rulelog.services.agent import Agent
from rulelog.services.application import RulelogApp
from rulelog.services.verification import sign_off_verified, verify_scheduler_signoffs
from tests.integration.relman_support import relman_guarded

T0 = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
LATER = (T0 + timedelta(hours=1)).isoformat()
#: Linux, German, 119.0, built after rule 14's cut-off: rule 1 answers (121.0).
URL = (
    "/update/6/Firefox/119.0/20231120000000/Linux_x86_64-gcc3/de/release/"
    "Linux/default/default/default/update.xml"
)


@pytest.fixture
def ex(app: RulelogApp, fixture_snapshot: dict[str, Any]) -> RulelogApp:
    """Fixture data, a relman, a relman policy on Firefox release, one expectation."""
    relman_guarded(app, fixture_snapshot, now=T0)
    spec = {"name": "de-gets-121", "url": URL, "expect": {"release": "Firefox-121.0-build1"}}
    app.add_expectation(spec, "alice")
    return app


def state(app: RulelogApp) -> Catalog:
    return Catalog().fold(read_log(app))


def downgrade_rule_1(app: RulelogApp) -> Any:
    """A pending change (scheduled by a non-signer) that serves 120.0 instead of 121.0."""
    return app.schedule_change(
        "rules",
        "update",
        {"rule_id": 1, "mapping": "Firefox-120.0-build1"},
        {"when": LATER},
        changed_by="alice",
        data_version=app.get_rule(1).data_version,
    )


def test_passes_on_live_and_on_an_untouched_test_view(ex: RulelogApp) -> None:
    [result] = check_state(ex, state(ex))
    assert result["live"]["passed"] and result["live"]["release"] == "Firefox-121.0-build1"
    assert result["live"]["version"] == "121.0" and result["live"]["rule_id"] == 1
    assert result["test"]["passed"] and result["test"]["responsible"] == []


def test_failing_on_the_test_view_blocks_signoff_naming_both(ex: RulelogApp) -> None:
    sc = downgrade_rule_1(ex)
    [result] = check_state(ex, state(ex))
    assert result["live"]["passed"]
    assert not result["test"]["passed"]
    assert result["test"]["release"] == "Firefox-120.0-build1"
    assert result["test"]["responsible"] == [{"kind": "rules", "sc_id": sc.sc_id}]
    with pytest.raises(Conflict) as refused:
        sign_off_verified(ex, state(ex), "rules", sc.sc_id, "relman", "rm")
    message = refused.value.message
    assert "de-gets-121" in message
    assert f"rules change {sc.sc_id}" in message
    assert "Firefox-120.0-build1" in message
    assert ex.get_scheduled_change("rules", sc.sc_id).signoffs == {}


def test_override_reason_is_recorded_with_the_signoff(ex: RulelogApp) -> None:
    sc = downgrade_rule_1(ex)
    signed = sign_off_verified(
        ex, state(ex), "rules", sc.sc_id, "relman", "rm", override_reason="hold on 120"
    )
    assert signed.signoffs == {"rm": "relman"}
    assert signed.expectation_overrides == [
        {"username": "rm", "reason": "hold on 120", "failures": ["de-gets-121"]}
    ]
    topics = [e.event.__class__.__name__ for e in read_log(ex)][-2:]
    assert topics == ["SignedOff", "ExpectationsOverridden"]


def test_a_change_that_does_not_cause_the_failure_is_not_blocked(ex: RulelogApp) -> None:
    other = ex.schedule_change(
        "rules",
        "update",
        {"rule_id": 20, "priority": 101},
        {"when": LATER},
        changed_by="alice",
        data_version=1,
    )
    downgrade_rule_1(ex)
    signed = sign_off_verified(ex, state(ex), "rules", other.sc_id, "relman", "rm")
    assert signed.signoffs == {"rm": "relman"}


def test_enacting_a_change_that_breaks_a_live_expectation_is_reported(ex: RulelogApp) -> None:
    sc = downgrade_rule_1(ex)
    sign_off_verified(ex, state(ex), "rules", sc.sc_id, "relman", "rm", override_reason="ok")
    report = Agent(ex, "robot").run_pass(now=T0 + timedelta(days=1))
    assert report.enacted == [[("rules", sc.sc_id)]]
    assert [r["name"] for r in report.failing_live] == ["de-gets-121"]
    assert report.decisions["expectation_failing_live"] == 1
    [result] = check_state(ex, state(ex))
    assert not result["live"]["passed"]


def test_expectations_at_a_past_time(ex: RulelogApp) -> None:
    timeline = open_timeline(ex)
    timeline.catch_up()
    first = timeline.current().position
    ex.change_expectation(
        {"name": "de-gets-121", "url": URL, "expect": {"no_update": True}, "reason": "why"},
        "alice",
    )
    ex.add_expectation({"name": "later", "url": URL, "expect": {"rule_id": 1}}, "alice")
    ex.remove_expectation("later", "alice", "gone")
    timeline.catch_up()
    then = timeline.state_at(first)
    assert sorted(then.expectations) == ["de-gets-121"]
    assert then.expectations["de-gets-121"]["expect"] == {"release": "Firefox-121.0-build1"}
    [past] = check_state(ex, then)
    assert past["live"]["passed"]
    now = timeline.current()
    assert sorted(now.expectations) == ["de-gets-121"]
    assert now.expectations["de-gets-121"]["data_version"] == 2
    assert now.expectations["de-gets-121"]["reason"] == "why"
    [current] = check_state(ex, now)
    assert not current["live"]["passed"]
    assert timeline.state_at(now.position - 1).expectations.keys() == {"de-gets-121", "later"}


def _lines(count: int) -> list[str]:
    return [
        json.dumps(
            {"name": f"e{i}", "url": URL.replace("/de/", f"/l{i}/"), "expect": {"rule_id": 1}}
        )
        for i in range(count)
    ]


def test_import_of_1000_is_atomic(ex: RulelogApp) -> None:
    lines = _lines(1000)
    lines[736] = json.dumps({"name": "bad", "url": URL, "expect": {"version_at_least": 5}})
    with pytest.raises(Invalid, match=r"^line 737: expect\.version_at_least"):
        parse_import("\n".join(lines))
    assert sorted(state(ex).expectations) == ["de-gets-121"]
    specs = parse_import("\n".join(_lines(1000)))
    ex.import_expectations(specs, "alice")
    assert len(state(ex).expectations) == 1001


def test_import_in_one_save_stores_none_when_the_store_moved(ex: RulelogApp) -> None:
    specs = parse_import("\n".join(_lines(3)))
    before = len(list(read_log(ex)))
    ex.import_expectations(specs, "alice")
    assert len(list(read_log(ex))) == before + 3
    # Importing again replaces (a changed event each), still as one save.
    ex.import_expectations(specs, "alice")
    assert len(list(read_log(ex))) == before + 6


def test_update_verify_block_expands(ex: RulelogApp) -> None:
    block = {
        "name": "uv",
        "product": "Firefox",
        "channel": "release",
        "from": [{"version": "120.0", "buildID": "20231120000000"}, {"version": "119.0"}],
        "platforms": ["Linux_x86_64-gcc3"],
        "locales": ["de", "fr"],
        "expect": {"version_at_least": "121.0"},
    }
    specs = parse_import(json.dumps(block))
    assert [s["name"] for s in specs] == [
        "uv/120.0/Linux_x86_64-gcc3/de",
        "uv/120.0/Linux_x86_64-gcc3/fr",
        "uv/119.0/Linux_x86_64-gcc3/de",
        "uv/119.0/Linux_x86_64-gcc3/fr",
    ]
    ex.import_expectations(specs, "alice")
    results = {r["name"]: r for r in check_state(ex, state(ex), channel="release")}
    assert results["uv/120.0/Linux_x86_64-gcc3/de"]["live"]["passed"]


def test_an_automatic_signoff_is_withdrawn_when_expectations_fail(ex: RulelogApp) -> None:
    """rm holds relman, so scheduling signs off for rm; a change that makes an
    expectation fail on its test view loses that signoff (no override was given)."""
    breaking = ex.schedule_change(
        "rules", "update", {"rule_id": 1, "mapping": "Firefox-120.0-build1"},
        {"when": LATER}, changed_by="rm", data_version=ex.get_rule(1).data_version,
    )  # fmt: skip
    assert breaking.signoffs == {"rm": "relman"}
    [checked] = verify_scheduler_signoffs(ex, open_timeline(ex), [breaking])
    assert checked.signoffs == {}
    harmless = ex.schedule_change(
        "rules", "update", {"rule_id": 2, "comment": "noted"},
        {"when": LATER}, changed_by="rm", data_version=ex.get_rule(2).data_version,
    )  # fmt: skip
    [kept] = verify_scheduler_signoffs(ex, open_timeline(ex), [harmless])
    assert kept.signoffs == {"rm": "relman"} and kept.signoff_fingerprints["rm"]
