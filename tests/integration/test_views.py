"""Live and derived test-channel views, and the timeline, on SQLite and PostgreSQL."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from rulelog.api.config import open_timeline
from rulelog.projections.log import last_position, read_log
from rulelog.projections.state import Catalog
from rulelog.projections.timeline import parse_at
from rulelog.projections.views import PENDING_RULE_ID_BASE, derived_view, live_view, view_of
from rulelog.services.application import RulelogApp
from tests.samples import plain_rule

T0 = datetime(2030, 1, 1, tzinfo=UTC)
WHEN = {"when": (T0 + timedelta(hours=1)).isoformat()}


@pytest.fixture
def tv(app: RulelogApp, fixture_snapshot: dict[str, Any]) -> RulelogApp:
    app.now = lambda: T0  # type: ignore[method-assign]
    app.import_snapshot(fixture_snapshot, changed_by="importer")
    return app


def state(app: RulelogApp) -> Catalog:
    return Catalog().fold(read_log(app))


def priorities(view: Any) -> dict[int, int]:
    return {i: r["priority"] for i, r in view.rules.items()}


def test_rule_update_shows_on_the_test_channel_only(tv: RulelogApp) -> None:
    sc = tv.schedule_change(
        "rules", "update", {"rule_id": 1, "priority": 99}, WHEN, "alice", data_version=1
    )
    now = state(tv)
    assert priorities(view_of(now, "release-cdntest"))[1] == 99
    assert priorities(view_of(now, "release-localtest"))[1] == 99
    assert priorities(view_of(now, "release"))[1] == 90
    assert [o["sc_id"] for o in view_of(now, "release-cdntest").overlays] == [sc.sc_id]
    assert 1 not in view_of(now, "beta-cdntest").rules  # an unrelated channel is untouched


def test_insert_and_delete_overlays(tv: RulelogApp) -> None:
    new = plain_rule("Firefox-121.0-build1", priority=300)
    insert = tv.schedule_change("rules", "insert", new, WHEN, "alice")
    tv.schedule_change("rules", "delete", {"rule_id": 2}, WHEN, "alice", data_version=1)
    test = view_of(state(tv), "release-cdntest")
    assert test.rules[PENDING_RULE_ID_BASE + insert.sc_id]["priority"] == 300
    assert 2 not in test.rules
    assert 2 in view_of(state(tv), "release").rules


def test_glob_channel_change_and_unrelated_delete(tv: RulelogApp) -> None:
    # Moving a rule from beta to release* shows on release's test channels ...
    beta = next(r for r in state(tv).rules.values() if r["channel"] == "beta")
    tv.schedule_change(
        "rules",
        "update",
        {"rule_id": beta["rule_id"], "channel": "release*"},
        WHEN,
        "alice",
        data_version=1,
    )
    # ... and deleting a rule on another channel does not.
    aurora = next(
        r
        for r in state(tv).rules.values()
        if r["channel"] not in (None, "release", "release*", "beta")
        and r["rule_id"] != beta["rule_id"]
    )
    tv.schedule_change(
        "rules", "delete", {"rule_id": aurora["rule_id"]}, WHEN, "alice", data_version=1
    )
    test = view_of(state(tv), "release-cdntest")
    assert test.rules[beta["rule_id"]]["channel"] == "release*"
    assert [o["target"] for o in test.overlays] == [str(beta["rule_id"])]


def test_scheduled_release_blob_is_served_on_the_test_channel(tv: RulelogApp) -> None:
    release = tv.get_release("Firefox-121.0-build1")
    blob = copy.deepcopy(release.blob)
    blob["displayVersion"] = "121.0 (respin)"
    tv.schedule_change(
        "releases", "update", {"name": release.name, "data": blob}, WHEN, "alice", data_version=1
    )
    now = state(tv)
    assert view_of(now, "release-cdntest").release_blobs[release.name]["displayVersion"] == (
        "121.0 (respin)"
    )
    assert release.name not in view_of(now, "release").release_blobs
    # A channel whose rules do not map the release is not overlaid.
    assert release.name not in view_of(now, "nightly-cdntest").release_blobs


def test_shutoff_and_pin_overlays(tv: RulelogApp) -> None:
    tv.schedule_change(
        "emergency_shutoff", "insert", {"product": "Firefox", "channel": "release"}, WHEN, "alice"
    )
    tv.schedule_change(
        "pinnable_releases",
        "insert",
        {
            "product": "Firefox",
            "channel": "release",
            "version": "119.",
            "mapping": "Firefox-120.0-build1",
        },
        WHEN,
        "alice",
    )
    now = state(tv)
    test, live = view_of(now, "release-cdntest"), view_of(now, "release")
    assert ("Firefox", "release") in test.shutoffs and ("Firefox", "release") not in live.shutoffs
    assert ("Firefox", "release", "119.") in test.pins
    assert ("Firefox", "release", "119.") not in live.pins


def test_cancelled_and_enacted_changes_no_longer_overlay(tv: RulelogApp) -> None:
    tv.grant_permission("robot", "scheduled_change", {"actions": ["enact"]}, "alice")
    first = tv.schedule_change(
        "rules", "update", {"rule_id": 1, "priority": 1}, WHEN, "alice", data_version=1
    )
    second = tv.schedule_change(
        "rules", "update", {"rule_id": 2, "priority": 2}, WHEN, "alice", data_version=1
    )
    tv.cancel_scheduled_change("rules", first.sc_id, 1, "alice")
    tv.enact_scheduled_change("rules", second.sc_id, "robot")
    test = view_of(state(tv), "release-cdntest")
    assert test.overlays == []
    assert priorities(test)[1] == 90 and priorities(test)[2] == 2


def test_explicit_rules_for_the_test_channel_keep_working(tv: RulelogApp) -> None:
    explicit = tv.create_rule(
        {
            "product": "Firefox",
            "channel": "release-cdntest",
            "priority": 500,
            "backgroundRate": 100,
            "update_type": "minor",
            "mapping": "Firefox-121.0-build1",
        },
        "alice",
    )
    assert explicit.rule_id in view_of(state(tv), "release-cdntest").rules
    assert explicit.rule_id not in view_of(state(tv), "release").rules


def test_explicitly_mapped_test_channel(tv: RulelogApp) -> None:
    tv.map_test_channel("release", "release-qa", "alice")
    tv.schedule_change(
        "rules", "update", {"rule_id": 1, "priority": 77}, WHEN, "alice", data_version=1
    )
    assert priorities(view_of(state(tv), "release-qa"))[1] == 77


def test_enacting_everything_pending_makes_live_equal_the_test_view(tv: RulelogApp) -> None:
    tv.grant_permission("robot", "scheduled_change", {"actions": ["enact"]}, "alice")
    release = tv.get_release("Firefox-121.0-build1")
    blob = copy.deepcopy(release.blob)
    blob["displayVersion"] = "121.0.1"
    new = {
        "product": "Firefox",
        "channel": "release",
        "priority": 301,
        "backgroundRate": 100,
        "update_type": "minor",
        "mapping": "Firefox-121.0-build1",
    }
    scheduled = [
        tv.schedule_change(
            "rules", "update", {"rule_id": 1, "priority": 98}, WHEN, "alice", data_version=1
        ),
        tv.schedule_change("rules", "insert", new, WHEN, "alice"),
        tv.schedule_change("rules", "delete", {"rule_id": 4}, WHEN, "alice", data_version=1),
        tv.schedule_change(
            "releases",
            "update",
            {"name": release.name, "data": blob},
            WHEN,
            "alice",
            data_version=1,
        ),
    ]
    before = derived_view(state(tv), "release")
    for sc in scheduled:
        tv.enact_scheduled_change(sc.kind, sc.sc_id, "robot")
    after = live_view(state(tv), "release")
    assert after.content() == before.content()
    assert after.fingerprint() == before.fingerprint()


# ---------------------------------------------------------------- timeline


def test_state_at_a_time_and_a_position(tv: RulelogApp) -> None:
    timeline = open_timeline(tv)
    timeline.every = 7
    timeline.catch_up()
    middle = last_position(tv)
    cut = datetime.now(tz=UTC)
    tv.update_rule(11, 1, {"comment": "later"}, "alice")
    assert timeline.state_at(middle).rules[11]["comment"] != "later"
    assert timeline.resolve(cut.isoformat()) == middle
    assert timeline.resolve(str(int(cut.timestamp() * 1000))) == middle
    assert timeline.state_at(timeline.resolve(None)).rules[11]["comment"] == "later"
    assert timeline.resolve(f"position:{middle}") == middle


@pytest.mark.parametrize("text", ["yesterday", "position:x", "12:00"])
def test_bad_at_is_invalid(text: str) -> None:
    from rulelog.domain.errors import Invalid

    with pytest.raises(Invalid, match="at"):
        parse_at(text)
