"""Hand-kept test channels on SQLite and PostgreSQL: served as Balrog serves them,
derived on purpose (recorded), and answered at any past time with that time's rules.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from rulelog.api.config import open_timeline
from rulelog.domain import ids
from rulelog.domain.catalog.channels import ChannelMap
from rulelog.domain.catalog.rules import Rule
from rulelog.domain.errors import Conflict, PermissionDenied, SignoffRequired
from rulelog.projections.at import rules_at
from rulelog.projections.channels import derive_channel, list_test_channels
from rulelog.projections.explain import explain
from rulelog.projections.log import last_position, read_log
from rulelog.projections.serving import ServingState
from rulelog.projections.timeline import Timeline
from rulelog.projections.views import as_test_channel
from rulelog.services.application import RulelogApp
from tests.hand_kept_support import DERIVED, HAND_KEPT, answer, hand_kept_snapshot, oracle, urls

T0 = datetime(2030, 1, 1, tzinfo=UTC)
WHEN = {"when": (T0 + timedelta(hours=1)).isoformat()}
Answers = dict[str, Any]


@pytest.fixture
def hk(app: RulelogApp) -> RulelogApp:
    app.now = lambda: T0  # type: ignore[method-assign]
    app.import_snapshot(hand_kept_snapshot(), changed_by="importer")
    return app


@pytest.fixture
def tl(hk: RulelogApp) -> Timeline:
    return open_timeline(hk)


def served(app: RulelogApp, channels: Any) -> Answers:
    """What a freshly started server answers now."""
    state = ServingState()
    state.advance(app)
    return {url: answer(url, state.index) for url in urls(channels)}


def balrog(app: RulelogApp, tl: Timeline, channels: Any) -> Answers:
    """What Balrog answers over the live rows now (pending changes play no part)."""
    tl.catch_up()
    state = tl.current()
    blobs = {name: app.get_release(name).blob for name in state.releases}
    view = oracle(state, blobs)
    return {url: answer(url, view) for url in urls(channels)}


def test_hand_kept_channels_answer_as_balrog_with_and_without_pending_changes(
    hk: RulelogApp, tl: Timeline
) -> None:
    before = served(hk, HAND_KEPT)
    assert before == balrog(hk, tl, HAND_KEPT)
    derived_before = served(hk, DERIVED)
    # Pending changes of every kind, on the live channel and on the test channels.
    hk.schedule_change("rules", "update", {"rule_id": 80, "priority": 500}, WHEN, "alice", 1)
    hk.schedule_change("rules", "update", {"rule_id": 1, "priority": 999}, WHEN, "alice", 1)
    row = {
        "product": "Firefox",
        "channel": "release-cdntest",
        "priority": 900,
        "backgroundRate": 100,
        "update_type": "minor",
        "mapping": "Firefox-120.0-build1",
    }
    hk.schedule_change("rules", "insert", row, WHEN, "alice")
    release = hk.get_release("Firefox-121.0-build1")
    blob = copy.deepcopy(release.blob)
    blob["displayVersion"] = "121.0 respin"
    hk.schedule_change("releases", "update", {"name": release.name, "data": blob}, WHEN, "alice", 1)
    shutoff = {"product": "Firefox", "channel": "release-cdntest"}
    hk.schedule_change("emergency_shutoff", "insert", shutoff, WHEN, "alice")
    after = served(hk, HAND_KEPT)
    assert after == balrog(hk, tl, HAND_KEPT) == before
    # The derived test channels show what is pending.
    derived_after = served(hk, DERIVED)
    changed = [u for u in derived_after if derived_after[u] != derived_before[u]]
    assert any("release-localtest" in u for u in changed)
    assert any("respin" in str(derived_after[u]) for u in changed)


def test_a_live_shutoff_does_not_reach_a_hand_kept_channel(hk: RulelogApp, tl: Timeline) -> None:
    hk.create_shutoff("Firefox", "release", "alice")
    assert served(hk, HAND_KEPT) == balrog(hk, tl, HAND_KEPT)
    cdntest = served(hk, ["release-cdntest"])
    assert any(a[1] != "unknown" for a in cdntest.values() if isinstance(a, tuple))
    localtest = served(hk, ["release-localtest"])  # derived: shut off with its live channel
    assert all(a[1] == "unknown" for u, a in localtest.items() if "/Firefox/" in u)


def test_derive_switches_a_channel_to_derived_in_one_recorded_save(
    hk: RulelogApp, tl: Timeline
) -> None:
    hand_kept = served(hk, ["release-cdntest"])
    before = last_position(hk)
    done = derive_channel(hk, tl, "release-cdntest", "alice")
    assert done["retired_rules"] == [80, 81] and done["live_channel"] == "release"
    events = list(read_log(hk, before + 1))
    deleted = [e.event for e in events if isinstance(e.event, Rule.Deleted)]
    mapped = [e.event for e in events if isinstance(e.event, ChannelMap.Mapped)]
    assert sorted(e.originator_id for e in deleted) == sorted(ids.rule_id(i) for i in (80, 81))
    assert [(m.live, m.test, m.changed_by) for m in mapped] == [
        ("release", "release-cdntest", "alice")
    ]
    assert {e.actor for e in events if e.actor} == {"alice"}
    state = tl.current()
    found = as_test_channel(state, "release-cdntest")
    assert found is not None and found.mapped and found.derived and found.kept_by == ()
    for channel, rules in HAND_KEPT.items():  # the others are untouched
        if channel != "release-cdntest":
            assert as_test_channel(state, channel).kept_by == rules  # type: ignore[union-attr]
    # Derived: the live channel's rules, as release-localtest is answered.
    derived = served(hk, ["release-cdntest"])
    localtest = served(hk, ["release-localtest"])
    for url, got in derived.items():
        twin = localtest[url.replace("/release-cdntest/", "/release-localtest/")]
        assert isinstance(got, tuple) and isinstance(twin, tuple) and got[:2] == twin[:2]
    assert derived != hand_kept

    # As of before the switch: the rules and mapping of that time.
    then = f"position:{before}"
    past = rules_at(tl, then, "release-cdntest")
    assert (past["answered_by"], past["live_channel"]) == ("hand-kept", "release")
    assert {80, 81} <= {r["rule_id"] for r in rules_at(tl, then, "release-cdntest")["rules"]}
    assert rules_at(tl, None, "release-cdntest")["answered_by"] == "derived"
    listed = {r["channel"]: r for r in list_test_channels(tl, then)["test_channels"]}
    assert listed["release-cdntest"]["mode"] == "hand-kept"
    assert listed["release-cdntest"]["hand_kept_by"] == [80, 81]
    listed = {r["channel"]: r for r in list_test_channels(tl)["test_channels"]}
    assert listed["release-cdntest"]["mode"] == "derived" and listed["release-cdntest"]["mapped"]
    for url in list(hand_kept)[:4]:
        past, now = explain(hk, tl, url, then), explain(hk, tl, url)
        assert past["answered_by"] == "hand-kept" and past["hand_kept_by"] == [80, 81]
        assert (past["response"]["status"], past["response"]["headers"]["Rule-ID"]) == tuple(
            hand_kept[url][:2]
        )
        assert now["answered_by"] == "derived" and now["hand_kept_by"] == []
        assert now["response"]["headers"]["Rule-ID"] == derived[url][1]
    # Deriving twice has nothing left to do.
    with pytest.raises(Conflict, match="already derived"):
        derive_channel(hk, tl, "release-cdntest", "alice")


def test_derive_is_refused_where_a_deletion_needs_signoff(hk: RulelogApp, tl: Timeline) -> None:
    hk.grant_permission("rm", "rule", {"products": ["Firefox"]}, changed_by="alice")
    hk.grant_role("rm", "relman", changed_by="alice")
    policy = {
        "product": "Firefox",
        "channel": "release-cdntest",
        "role": "relman",
        "signoffs_required": 1,
    }
    hk.add_required_signoff("product", policy, changed_by="alice")
    before = last_position(hk)
    with pytest.raises(SignoffRequired) as refused:
        derive_channel(hk, tl, "release-cdntest", "alice")
    message = str(refused.value)
    assert "\n" not in message and "rule 80 keeps release-cdntest hand-kept" in message
    assert "requires signoffs (1 relman): schedule its deletion" in message
    assert last_position(hk) == before  # nothing stored, not even the rule without a policy
    assert not as_test_channel(tl.current(), "release-cdntest").derived  # type: ignore[union-attr]
    # The workflow way: schedule the deletions, sign off, enact; then derive maps it.
    hk.grant_permission("robot", "scheduled_change", {"actions": ["enact"]}, "alice")
    for rule_id in (80, 81):
        sc = hk.schedule_change("rules", "delete", {"rule_id": rule_id}, WHEN, "alice", 1)
        if hk.missing_signoffs(sc):
            hk.sign_off("rules", sc.sc_id, "relman", "rm")
        hk.enact_scheduled_change("rules", sc.sc_id, "robot")
    found = as_test_channel(tl.current(), "release-cdntest")
    assert found is not None and found.derived and not found.mapped  # by its suffix now
    assert derive_channel(hk, tl, "release-cdntest", "alice")["retired_rules"] == []
    assert tl.current().test_channels["release-cdntest"] == "release"


def test_derive_is_refused_while_a_hand_kept_rule_has_a_pending_change(
    hk: RulelogApp, tl: Timeline
) -> None:
    hk.schedule_change("rules", "update", {"rule_id": 83, "priority": 1}, WHEN, "alice", 1)
    before = last_position(hk)
    with pytest.raises(Conflict, match="pending scheduled change"):
        derive_channel(hk, tl, "beta-cdntest", "alice")
    with pytest.raises(PermissionDenied):
        derive_channel(hk, tl, "esr-localtest", "nobody")
    assert last_position(hk) == before


def test_a_derived_suffix_channel_is_mapped_by_derive(hk: RulelogApp, tl: Timeline) -> None:
    done = derive_channel(hk, tl, "release-localtest", "alice")
    assert done["retired_rules"] == []
    assert tl.current().test_channels["release-localtest"] == "release"
