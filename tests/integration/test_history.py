"""History, audit log, diffs, sync status and restore, on SQLite and PostgreSQL."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rulelog.api.config import open_timeline
from rulelog.domain.errors import Conflict, Invalid, NotFound
from rulelog.domain.serving.matching import channel_matches
from rulelog.projections.audit import KINDS, changes
from rulelog.projections.diff import diff_states, live_test_diff, sync_status
from rulelog.projections.history import release_history, rule_history, sc_history
from rulelog.projections.log import last_position
from rulelog.projections.state import Catalog
from rulelog.projections.timeline import Timeline
from rulelog.projections.views import PENDING_RULE_ID_BASE, derived_view, live_view
from rulelog.services.application import RulelogApp
from rulelog.services.restore import restore_channel
from tests.integration.relman_support import relman_guarded
from tests.integration.test_timeline_properties import apply, op, replayed

T0 = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
WHEN = {"when": (T0 + timedelta(hours=1)).isoformat()}
RELMAN = [{"role": "relman", "signoffs_required": 1}]


@pytest.fixture
def hv(app: RulelogApp, fixture_snapshot: dict[str, Any]) -> RulelogApp:
    """The fixture data; rm holds relman, which Firefox release needs one signoff of."""
    return relman_guarded(app, fixture_snapshot, now=T0)


@pytest.fixture
def tl(hv: RulelogApp) -> Timeline:
    return open_timeline(hv)


def mark(app: RulelogApp) -> str:
    return f"position:{last_position(app)}"


def update(app: RulelogApp, rule_id: int, **fields: Any) -> None:
    app.update_rule(rule_id, app.get_rule(rule_id).data_version, fields, "alice")


def schedule(app: RulelogApp, rule_id: int, by: str = "alice", **fields: Any) -> Any:
    rule = app.get_rule(rule_id)
    row = {"rule_id": rule_id, **fields}
    return app.schedule_change("rules", "update", row, WHEN, by, data_version=rule.data_version)


def new_rule(channel: str, priority: int, mapping: str, **extra: Any) -> dict[str, Any]:
    """A rule as the admin API takes it."""
    return {
        "product": extra.pop("product", "Firefox"),
        "channel": channel,
        "priority": priority,
        "backgroundRate": 100,
        "update_type": "minor",
        "mapping": mapping,
        **extra,
    }


def respun(app: RulelogApp, name: str, display: str) -> dict[str, Any]:
    """The release's blob with another displayVersion."""
    return {**copy.deepcopy(app.get_release(name).blob), "displayVersion": display}


def rule_rows(app: RulelogApp, tl: Timeline, channel: str, at: str | None = None) -> Any:
    return live_view(tl.state_at(tl.resolve(at)), channel).content()["rules"]


# ------------------------------------------------------------------ history


def test_rule_history_shows_each_revision_and_the_signoffs_of_an_enactment(
    hv: RulelogApp, tl: Timeline
) -> None:
    sc = schedule(hv, 1, priority=91)
    hv.sign_off("rules", sc.sc_id, "relman", "rm")
    hv.enact_scheduled_change("rules", sc.sc_id, "robot")
    revisions = rule_history(hv, tl, "firefox-release")
    assert [r["event"] for r in revisions] == ["created", "updated"]
    created, enacted = revisions
    assert created["changes"]["alias"] == {"from": None, "to": "firefox-release"}
    assert created["actor"] == "importer" and created["scheduled_change"] is None
    assert enacted["changes"] == {"priority": {"from": 90, "to": 91}}
    assert enacted["row"]["priority"] == 91 and enacted["row"]["data_version"] == 2
    assert enacted["actor"] == "alice"  # the change runs as its scheduler
    link = enacted["scheduled_change"]
    assert (link["kind"], link["sc_id"], link["enacted_by"]) == ("rules", sc.sc_id, "robot")
    assert link["signoffs"] == {"rm": "relman"} and link["required"] == RELMAN
    assert link["signed_off"] is True and link["missing"] == {}
    assert link["enacted_at_position"] == enacted["position"] - 1
    assert created["position"] < enacted["position"]
    assert created["time"] is not None and created["time"] <= enacted["time"]


def test_a_deleted_rule_keeps_its_history_under_its_alias(hv: RulelogApp, tl: Timeline) -> None:
    nightly = new_rule("nightly", 5, "Firefox-mozilla-central-nightly-latest", alias="short-lived")
    rule = hv.create_rule(nightly, "alice")
    update(hv, rule.rule_id, priority=6)
    hv.delete_rule(rule.rule_id, 2, "alice")
    revisions = rule_history(hv, tl, "short-lived")
    assert [r["event"] for r in revisions] == ["created", "updated", "deleted"]
    assert revisions[1]["changes"] == {"priority": {"from": 5, "to": 6}}
    assert revisions[2]["row"] is None
    assert revisions[2]["changes"]["alias"] == {"from": "short-lived", "to": None}
    assert [r["rule_id"] for r in revisions] == [rule.rule_id] * 3


def test_release_history_and_a_group_enactment(hv: RulelogApp, tl: Timeline) -> None:
    beta = "Firefox-122.0b3-build1"
    hv.replace_release_blob(beta, 1, respun(hv, beta, "122.0 Beta 3 (respin)"), "alice")
    hv.set_release_read_only(beta, 2, True, "alice")
    revisions = release_history(hv, tl, beta)
    assert [r["event"] for r in revisions] == ["created", "blob-replaced", "read-only-changed"]
    assert set(revisions[1]["changes"]) == {"blob_sha"}
    assert revisions[2]["changes"] == {"read_only": {"from": False, "to": True}}
    assert [r["row"]["data_version"] for r in revisions] == [1, 2, 3]
    # A release change and a rule change enacted together, in one save.
    name = "Firefox-121.0-build1"
    row = {"name": name, "data": respun(hv, name, "121.0.1")}
    first = hv.schedule_change("releases", "update", row, WHEN, "alice", 1)
    second = schedule(hv, 7, priority=106)
    for sc in (first, second):
        hv.sign_off(sc.kind, sc.sc_id, "relman", "rm")
    hv.enact_together([("releases", first.sc_id, {}), ("rules", second.sc_id, {})], "robot")
    last = release_history(hv, tl, name)[-1]
    assert last["scheduled_change"]["sc_id"] == first.sc_id
    assert last["scheduled_change"]["signoffs"] == {"rm": "relman"}
    assert rule_history(hv, tl, 7)[-1]["scheduled_change"]["sc_id"] == second.sc_id


def test_sc_history_shows_every_step(hv: RulelogApp, tl: Timeline) -> None:
    sc = schedule(hv, 1, priority=91)
    hv.modify_scheduled_change("rules", sc.sc_id, 1, "alice", row={"priority": 92})
    hv.sign_off("rules", sc.sc_id, "relman", "rm")
    hv.enact_scheduled_change("rules", sc.sc_id, "robot")
    steps = sc_history(hv, tl, "rules", str(sc.sc_id))
    assert [s["event"] for s in steps] == ["scheduled", "modified", "signed-off", "enacted"]
    assert steps[1]["changes"]["row.priority"] == {"from": 91, "to": 92}
    assert steps[2]["changes"]["signoffs.rm"] == {"from": None, "to": "relman"}
    assert not any(field.startswith("row.") for field in steps[2]["changes"])
    assert steps[2]["actor"] == "rm" and steps[3]["actor"] == "robot"
    assert [s["signed_off"] for s in steps] == [False, False, True, True]
    assert steps[3]["required"] == RELMAN and steps[3]["row"]["status"] == "enacted"
    assert steps[3]["enactment"] == {
        "position": steps[3]["position"] + 1,
        "event": "rulelog:rule.updated",
    }


def test_history_of_what_does_not_exist(hv: RulelogApp, tl: Timeline) -> None:
    with pytest.raises(NotFound):
        rule_history(hv, tl, "no-such-alias")
    with pytest.raises(NotFound):
        rule_history(hv, tl, 999)
    with pytest.raises(NotFound):
        release_history(hv, tl, "Nope")
    with pytest.raises(NotFound):
        sc_history(hv, tl, "rules", 999)
    with pytest.raises(Invalid, match="kind"):
        sc_history(hv, tl, "bogus", 1)
    with pytest.raises(Invalid, match="sc_id"):
        sc_history(hv, tl, "rules", "one")


# -------------------------------------------------------------------- audit


def test_changes_lists_domain_events_with_filters(hv: RulelogApp, tl: Timeline) -> None:
    start = mark(hv)
    update(hv, 20, priority=101)  # beta
    update(hv, 21, channel="nightly")  # moves from beta to nightly
    sc = schedule(hv, 1, priority=91)
    hv.sign_off("rules", sc.sc_id, "relman", "rm")
    hv.enact_scheduled_change("rules", sc.sc_id, "robot")
    middle = mark(hv)
    hv.create_shutoff("Firefox", "nightly", "alice", comment="stop")
    rows = changes(hv, tl, start)
    assert {r["kind"] for r in rows} <= set(KINDS)
    expected = "rule.updated rule.updated sc.scheduled sc.signed-off sc.enacted rule.updated"
    assert [f"{r['kind']}.{r['event']}" for r in rows] == [*expected.split(), "shutoff.created"]
    assert rows[5]["scheduled_change"] == f"rules/{sc.sc_id}"
    assert rows[5]["changes"] == {"priority": {"from": 90, "to": 91}}
    assert rows[0]["summary"] == "updated: priority: 100 -> 101"
    assert [r["position"] for r in rows] == sorted(r["position"] for r in rows)
    assert all(r["time"] for r in rows)
    assert [r["what"] for r in changes(hv, tl, start, by="rm")] == [f"rules/{sc.sc_id}"]
    rule_rows = changes(hv, tl, start, kinds=["rules"])
    assert [r["what"] for r in rule_rows] == ["20", "21", "1"]
    on_beta = changes(hv, tl, start, channel="beta", kinds=["rule"])
    assert [r["what"] for r in on_beta] == ["20", "21"]
    nightly = changes(hv, tl, start, channel="nightly", kinds=["rule", "shutoff"])
    assert [r["what"] for r in nightly] == ["21", "Firefox/nightly"]
    assert changes(hv, tl, start, product="Thunderbird", kinds=["rule", "sc"]) == []
    assert len(changes(hv, tl, start, middle)) == 6
    # The range is the one diff compares.
    changed = {c["rule_id"] for c in diff_states(tl, start, middle)["rules"]["changed"]}
    assert changed == {int(r["what"]) for r in rule_rows}
    with pytest.raises(Invalid, match="kind"):
        changes(hv, tl, start, kinds=["bogus"])
    with pytest.raises(Invalid, match="at"):
        changes(hv, tl, "last week")


def test_changes_name_rows_created_before_the_range(hv: RulelogApp, tl: Timeline) -> None:
    blob = {**respun(hv, "Firefox-122.0b3-build1", "scratch"), "name": "Scratch"}
    hv.create_release("Scratch", "Firefox", blob, "alice")
    hv.delete_release("Scratch", 1, "alice")
    start = mark(hv)
    hv.create_release("Scratch", "Firefox", blob, "alice")  # the same stream, recreated
    [row] = changes(hv, tl, start)
    assert (row["kind"], row["event"], row["what"]) == ("release", "recreated", "Scratch")
    assert row["changes"]["read_only"] == {"from": None, "to": False}
    assert [r["event"] for r in release_history(hv, tl, "Scratch")] == [
        "created",
        "deleted",
        "recreated",
    ]


# --------------------------------------------------------------------- diff


def test_diff_between_two_times(hv: RulelogApp, tl: Timeline) -> None:
    start = mark(hv)
    update(hv, 20, priority=101)
    hv.delete_rule(22, 1, "alice")
    new = hv.create_rule(new_rule("beta", 7, "Firefox-122.0b3-build1"), "alice")
    beta = hv.get_release("Firefox-122.0b3-build1")
    hv.replace_release_blob(beta.name, 1, respun(hv, beta.name, "respin"), "alice")
    hv.create_shutoff("Firefox", "beta", "alice")
    whole = diff_states(tl, start)
    rules = whole["rules"]
    assert [r["rule_id"] for r in rules["added"]] == [new.rule_id]
    assert [r["rule_id"] for r in rules["removed"]] == [22]
    assert rules["changed"] == [
        {
            "rule_id": 20,
            "data_version": {"from": 1, "to": 2},
            "changes": {"priority": {"from": 100, "to": 101}},
        }
    ]
    [release] = whole["releases"]["changed"]
    assert release["name"] == beta.name and set(release["changes"]) == {"blob_sha"}
    assert whole["shutoffs"]["added"][0]["channel"] == "beta"
    assert whole["from"]["position"] < whole["to"]["position"]
    on_beta = diff_states(tl, start, None, "beta")
    assert on_beta["rules"] == rules
    on_nightly = diff_states(tl, start, None, "nightly")
    assert on_nightly["rules"] == {"added": [], "removed": [], "changed": []}
    assert on_nightly["shutoffs"]["added"] == []


def test_live_test_diff_is_the_pending_changes(hv: RulelogApp, tl: Timeline) -> None:
    rule = schedule(hv, 1, priority=91)
    row = new_rule("release", 301, "Firefox-121.0-build1")
    insert = hv.schedule_change("rules", "insert", row, WHEN, "alice")
    delete = hv.schedule_change("rules", "delete", {"rule_id": 2}, WHEN, "alice", 1)
    name = "Firefox-121.0-build1"
    row = {"name": name, "data": respun(hv, name, "121.0.1")}
    respin = hv.schedule_change("releases", "update", row, WHEN, "alice", 1)
    shutoff = hv.schedule_change(
        "emergency_shutoff", "insert", {"product": "Firefox", "channel": "release"}, WHEN, "alice"
    )
    schedule(hv, 20, priority=1)  # beta: not a change of release's test channels
    result = live_test_diff(tl, "release", "release-cdntest")
    pending = {(p["kind"], p["sc_id"]): p for p in result["pending"]}
    assert set(pending) == {(sc.kind, sc.sc_id) for sc in (rule, insert, delete, respin, shutoff)}
    assert pending[("rules", rule.sc_id)]["changes"] == {"priority": {"from": 90, "to": 91}}
    assert pending[("rules", delete.sc_id)]["changes"]["priority"] == {"from": 100, "to": None}
    assert set(pending[("releases", respin.sc_id)]["changes"]) == {"blob_sha"}
    assert pending[("rules", rule.sc_id)]["missing"] == {"relman": 1}
    assert result["unexplained"] == {}
    rules = result["differences"]["rules"]
    assert [(c["rule_id"], c["by"]) for c in rules["changed"]] == [(1, [f"rules/{rule.sc_id}"])]
    assert [r["rule_id"] for r in rules["added"]] == [PENDING_RULE_ID_BASE + insert.sc_id]
    assert [(r["rule_id"], r["by"]) for r in rules["removed"]] == [(2, [f"rules/{delete.sc_id}"])]
    assert result["differences"]["shutoffs"]["added"][0]["by"] == [
        f"emergency_shutoff/{shutoff.sc_id}"
    ]
    assert result["live_fingerprint"] != result["test_fingerprint"]
    # A rule for the test channel's own name is a difference no pending change explains.
    row = new_rule("release-cdntest", 1, "Thunderbird-115.6.0-build1", product="Thunderbird")
    explicit = hv.create_rule(row, "alice")
    unexplained = live_test_diff(tl, "release", "release-cdntest")["unexplained"]
    assert [r["rule_id"] for r in unexplained["rules"]] == [explicit.rule_id]
    with pytest.raises(Invalid, match="test channel"):
        live_test_diff(tl, "release", "beta-cdntest")
    with pytest.raises(Invalid, match="test channel"):
        live_test_diff(tl, "release-cdntest", "release-cdntest-cdntest")
    with pytest.raises(Invalid, match="at"):
        live_test_diff(tl, "release", "release-cdntest", "soon")


def test_sync_status(hv: RulelogApp, tl: Timeline) -> None:
    hv.map_test_channel("aurora", "aurora-qa", "alice")
    on_release = schedule(hv, 1, priority=91)
    on_beta = schedule(hv, 20, priority=1)
    status = {c["channel"]: c for c in sync_status(tl)["channels"]}
    assert {"release", "beta", "nightly", "aurora"} <= set(status)
    assert not any("*" in c or c.endswith("test") for c in status)
    assert status["aurora"]["test_channels"] == ["aurora-cdntest", "aurora-localtest", "aurora-qa"]
    assert status["nightly"]["in_sync"] and status["nightly"]["pending"] == []
    [release] = status["release"]["pending"]
    assert (release["sc_id"], release["signed_off"], release["missing"]) == (
        on_release.sc_id,
        False,
        {"relman": 1},
    )
    assert release["required"] == RELMAN and not status["release"]["ready"]
    [beta] = status["beta"]["pending"]
    assert beta["sc_id"] == on_beta.sc_id and beta["signed_off"] and status["beta"]["ready"]
    hv.sign_off("rules", on_release.sc_id, "relman", "rm")
    after = {c["channel"]: c for c in sync_status(tl)["channels"]}
    assert after["release"]["ready"] and after["release"]["pending"][0]["signoffs"] == {
        "rm": "relman"
    }


# ------------------------------------------------------------------ restore


def test_restore_schedules_the_rollback_and_enacting_it_restores(
    hv: RulelogApp, tl: Timeline
) -> None:
    then = mark(hv)
    update(hv, 20, priority=101, comment="changed")
    hv.delete_rule(23, 1, "alice")
    added = hv.create_rule(new_rule("beta", 7, "Firefox-122.0b3-build1", alias="beta-new"), "alice")
    update(hv, 21, channel="nightly")  # moved away from beta
    update(hv, 30, channel="beta")  # moved onto beta
    update(hv, 31, priority=1)  # nightly: not concerned
    before = rule_rows(hv, tl, "beta")
    result = restore_channel(hv, tl, "beta", then, "alice")
    planned = {(c["change_type"], c["rule_id"]) for c in result["changes"]}
    assert planned == {
        ("update", 20),
        ("insert", None),
        ("delete", added.rule_id),
        ("update", 21),
        ("update", 30),
    }
    assert result["changes"][0]["change_type"] == "delete"  # frees aliases first
    assert result["when"] == (T0 + timedelta(minutes=5)).isoformat()
    assert rule_rows(hv, tl, "beta") == before  # scheduled, not applied
    for change in result["changes"]:
        hv.enact_scheduled_change("rules", change["sc_id"], "robot")
    assert rule_rows(hv, tl, "beta") == rule_rows(hv, tl, "beta", then)
    assert hv.get_rule(30).fields["channel"] == "nightly"
    assert hv.get_rule(31).fields["priority"] == 1


def test_restore_goes_through_signoffs(hv: RulelogApp, tl: Timeline) -> None:
    then = mark(hv)
    sc = schedule(hv, 1, by="rm", priority=91)  # rm's own signoff is automatic
    hv.enact_scheduled_change("rules", sc.sc_id, "robot")
    [change] = restore_channel(hv, tl, "release", then, "alice", delay_minutes=30)["changes"]
    assert change["changes"] == {"priority": {"from": 91, "to": 90}}
    assert (change["required"], change["signoffs"], change["signed_off"]) == (RELMAN, {}, False)
    assert hv.get_scheduled_change("rules", change["sc_id"]).condition == {
        "when": (T0 + timedelta(minutes=30)).isoformat()
    }


def test_restore_refuses_and_schedules_nothing(hv: RulelogApp, tl: Timeline) -> None:
    then = mark(hv)
    update(hv, 20, priority=101)
    update(hv, 21, priority=102)
    pending = schedule(hv, 21, priority=103)
    with pytest.raises(Conflict, match=str(pending.sc_id)):
        restore_channel(hv, tl, "beta", then, "alice")
    assert [sc["sc_id"] for sc in tl.current().pending()] == [pending.sc_id]
    hv.cancel_scheduled_change("rules", pending.sc_id, 1, "alice")
    dry = restore_channel(hv, tl, "beta", then, "alice", dry_run=True)
    assert [c["rule_id"] for c in dry["changes"]] == [20, 21] and tl.current().pending() == []
    with pytest.raises(Invalid, match="test channel"):
        restore_channel(hv, tl, "beta-cdntest", then, "alice")
    with pytest.raises(Invalid, match="at"):
        restore_channel(hv, tl, "beta", "a while ago", "alice")
    # Rule 22 has no mapping, which the admin API would refuse from a client; a
    # restore brings it back as it was (tests/integration/test_restore_null_mapping.py).
    hv.delete_rule(22, 1, "alice")
    planned = restore_channel(hv, tl, "beta", then, "alice", dry_run=True)["changes"]
    assert [(c["change_type"], c["rule_id"]) for c in planned][-1] == ("insert", None)
    assert tl.current().pending() == []


def test_restore_refuses_an_alias_taken_meanwhile(hv: RulelogApp, tl: Timeline) -> None:
    mapping = "Firefox-122.0b3-build1"
    old = hv.create_rule(new_rule("beta", 1, mapping, alias="beta-special"), "alice")
    then = mark(hv)
    hv.delete_rule(old.rule_id, 1, "alice")
    hv.create_rule(new_rule("nightly", 1, mapping, alias="beta-special"), "alice")
    with pytest.raises(Conflict, match="beta-special"):
        restore_channel(hv, tl, "beta", then, "alice")
    assert tl.current().pending() == []


# --------------------------------------------------------------- properties

SETTINGS = settings(
    max_examples=10,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def _touches(state: Catalog, sc: dict[str, Any], channel: str) -> bool:
    old = state.rules.get(int(sc["target"])) if sc["target"].isdigit() else None
    rows = (old, sc["row"])
    return any(r is not None and channel_matches(r.get("channel"), channel) for r in rows)


@SETTINGS
@given(commands=st.lists(op, min_size=1, max_size=25), channel=st.sampled_from(("release", "beta")))
def test_live_test_diff_is_exactly_the_pending_changes_touching_the_channel(
    store_kind: str, commands: list[tuple[Any, ...]], channel: str
) -> None:
    with replayed(store_kind, commands) as app:
        timeline = open_timeline(app)
        state = timeline.current()
        result = live_test_diff(timeline, channel, f"{channel}-cdntest")
        reported = {(p["kind"], p["sc_id"]) for p in result["pending"]}
        mapped = {r.get("mapping") for r in derived_view(state, channel).rules.values()}
        expected = {
            (sc["kind"], sc["sc_id"])
            for sc in state.pending()
            if _touches(state, sc, channel)
            if sc["kind"] == "rules" or sc["target"] in mapped
        }
        assert reported == expected
        assert result["unexplained"] == {}
        causes = {
            ref
            for sides in result["differences"].values()
            for items in sides.values()
            for item in items
            for ref in item["by"]
        }
        assert causes <= {f"{kind}/{sc_id}" for kind, sc_id in reported}
        # Every pending change that changes a field shows as a difference.
        assert {f"{p['kind']}/{p['sc_id']}" for p in result["pending"] if p["changes"]} <= causes


@SETTINGS
@given(
    before=st.lists(op, max_size=12),
    after=st.lists(op, min_size=1, max_size=15),
    channel=st.sampled_from(("release", "beta")),
)
def test_restore_then_enact_gives_back_the_rules_of_then(
    store_kind: str, before: list[tuple[Any, ...]], after: list[tuple[Any, ...]], channel: str
) -> None:
    with replayed(store_kind, before, enactor=True) as app:
        then = f"position:{last_position(app)}"
        for command in after:
            apply(app, command)
        timeline = open_timeline(app)
        for sc in timeline.current().pending():  # restore refuses while changes are pending
            app.cancel_scheduled_change(sc["kind"], sc["sc_id"], sc["data_version"], "a")
        result = restore_channel(app, timeline, channel, then, "a")
        assert all(sc["status"] == "pending" for sc in timeline.current().pending())
        assert len(timeline.current().pending()) == len(result["changes"])
        for change in result["changes"]:
            app.enact_scheduled_change("rules", change["sc_id"], "robot")
        assert rule_rows(app, timeline, channel) == rule_rows(app, timeline, channel, then)
