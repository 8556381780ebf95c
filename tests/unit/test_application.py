"""Commands and invariants of the application, on the in-memory store (no I/O)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from rulelog.domain.errors import Conflict, Invalid, NotFound
from rulelog.services.application import RulelogApp
from tests.conftest import writes_nothing
from tests.samples import empty_blob, plain_rule

BLOB = empty_blob("Firefox-1.0-build1")
RULE = plain_rule("Firefox-1.0-build1")


def blob(name: str = "Firefox-1.0-build1", **extra: Any) -> dict[str, Any]:
    return {**copy.deepcopy(BLOB), "name": name, **extra}


@pytest.fixture
def app() -> RulelogApp:
    app = RulelogApp()
    for name in ("alice", "bob", "a"):
        app.add_user(name, admin=True, recorded_by="test")
    app.create_release("Firefox-1.0-build1", "Firefox", blob(), changed_by="alice")
    return app


def event_count(app: RulelogApp) -> int:
    return app.recorder.max_notification_id() or 0


def test_rule_ids_are_allocated_in_order(app: RulelogApp) -> None:
    first = app.create_rule(RULE, changed_by="alice")
    second = app.create_rule({**RULE, "priority": 20}, changed_by="alice")
    assert (first.rule_id, second.rule_id) == (1, 2)
    assert app.get_rule(2).fields["priority"] == 20
    assert app.get_rule("2").data_version == 1


def test_update_records_only_changed_fields(app: RulelogApp) -> None:
    rule = app.create_rule(RULE, changed_by="alice")
    updated = app.update_rule(rule.rule_id, 1, {**RULE, "priority": 50}, changed_by="bob")
    assert updated.data_version == 2
    stored = list(app.events.get(rule.id))[-1]
    assert stored.changes == {"priority": 50}
    assert stored.changed_by == "bob"


def test_an_update_that_changes_nothing_still_bumps_data_version(app: RulelogApp) -> None:
    """As Balrog: a retried edit is accepted and versioned, with nothing changed."""
    rule = app.create_rule(RULE, changed_by="alice")
    before = event_count(app)
    again = app.update_rule(rule.rule_id, 1, dict(RULE), changed_by="bob")
    assert again.data_version == 2
    assert event_count(app) == before + 1
    assert again.fields == rule.fields


def test_an_unchanged_edit_rebases_the_pending_change_so_it_still_enacts(
    app: RulelogApp,
) -> None:
    """The edit bumps the rule's data_version; the scheduled change follows it (mergeUpdate)."""
    rule = app.create_rule(RULE, changed_by="alice")
    when = {"when": "2099-01-01T00:00:00Z"}
    sc = app.schedule_change("rules", "update", {"rule_id": rule.rule_id, "priority": 50},
                             when, "alice", 1)  # fmt: skip
    app.update_rule(rule.rule_id, 1, dict(RULE), changed_by="alice")
    rebased = app.get_scheduled_change("rules", sc.sc_id)
    assert rebased.base_data_version == 2
    app.enact_scheduled_change("rules", sc.sc_id, "alice")
    assert app.get_rule(rule.rule_id).fields["priority"] == 50


def test_stale_data_version_is_a_conflict_and_changes_nothing(app: RulelogApp) -> None:
    rule = app.create_rule(RULE, changed_by="alice")
    app.update_rule(rule.rule_id, 1, {"priority": 11}, changed_by="alice")
    with writes_nothing(app), pytest.raises(Conflict, match="data_version 2, not 1"):
        app.update_rule(rule.rule_id, 1, {"priority": 12}, changed_by="bob")
    assert app.get_rule(rule.rule_id).fields["priority"] == 11


def test_alias_is_unique_and_freed_by_delete(app: RulelogApp) -> None:
    rule = app.create_rule({**RULE, "alias": "firefox-release"}, changed_by="alice")
    assert app.get_rule("firefox-release").rule_id == rule.rule_id
    with pytest.raises(Conflict, match="alias"):
        app.create_rule({**RULE, "alias": "firefox-release"}, changed_by="alice")
    app.delete_rule("firefox-release", 1, changed_by="alice")
    with pytest.raises(NotFound):
        app.get_rule("firefox-release")
    again = app.create_rule({**RULE, "alias": "firefox-release"}, changed_by="alice")
    assert app.get_rule("firefox-release").rule_id == again.rule_id


def test_renaming_an_alias_frees_the_old_one(app: RulelogApp) -> None:
    rule = app.create_rule({**RULE, "alias": "old"}, changed_by="alice")
    app.update_rule(rule.rule_id, 1, {"alias": "new"}, changed_by="alice")
    assert app.get_rule("new").rule_id == rule.rule_id
    assert app.create_rule({**RULE, "alias": "old"}, changed_by="alice").alias == "old"


def test_rule_must_map_to_an_existing_release(app: RulelogApp) -> None:
    with pytest.raises(Invalid, match="mapping: no release named Nope") as info:
        app.create_rule({**RULE, "mapping": "Nope"}, changed_by="alice")
    assert info.value.field == "mapping"
    with pytest.raises(Invalid, match="fallbackMapping"):
        app.create_rule({**RULE, "fallbackMapping": "Nope"}, changed_by="alice")


def test_invalid_rule_is_refused_naming_the_field(app: RulelogApp) -> None:
    before = event_count(app)
    with pytest.raises(Invalid) as info:
        app.create_rule({**RULE, "backgroundRate": 150}, changed_by="alice")
    assert info.value.field == "backgroundRate"
    assert event_count(app) == before


def test_mapped_release_cannot_be_deleted_until_unmapped(app: RulelogApp) -> None:
    rule = app.create_rule({**RULE, "fallbackMapping": "Firefox-1.0-build1"}, changed_by="a")
    with pytest.raises(Conflict, match="mapped to by rule 1"):
        app.delete_release("Firefox-1.0-build1", 1, changed_by="alice")
    app.create_release("Firefox-2.0-build1", "Firefox", blob("Firefox-2.0-build1"), "alice")
    app.update_rule(rule.rule_id, 1, {"mapping": "Firefox-2.0-build1"}, changed_by="a")
    with pytest.raises(Conflict):  # still the fallback
        app.delete_release("Firefox-1.0-build1", 1, changed_by="alice")
    app.update_rule(rule.rule_id, 2, {"fallbackMapping": None}, changed_by="a")
    app.delete_release("Firefox-1.0-build1", 1, changed_by="alice")
    with pytest.raises(NotFound):
        app.get_release("Firefox-1.0-build1")


def test_deleted_release_can_be_created_again_with_data_version_1(app: RulelogApp) -> None:
    app.replace_release_blob("Firefox-1.0-build1", 1, blob(appv="1.0.1"), changed_by="a")
    app.delete_release("Firefox-1.0-build1", 2, changed_by="alice")
    again = app.create_release("Firefox-1.0-build1", "Firefox", blob(), changed_by="bob")
    assert again.data_version == 1
    assert again.version == 4


def test_duplicate_release_is_a_conflict(app: RulelogApp) -> None:
    with pytest.raises(Conflict, match="already exists"):
        app.create_release("Firefox-1.0-build1", "Firefox", blob(), changed_by="alice")


def test_release_blob_name_must_match(app: RulelogApp) -> None:
    with pytest.raises(Invalid):
        app.create_release("Other", "Firefox", blob(), changed_by="alice")


def test_read_only_release_refuses_blob_changes_and_deletion(app: RulelogApp) -> None:
    app.set_release_read_only("Firefox-1.0-build1", 1, True, changed_by="alice")
    with pytest.raises(Invalid, match="read-only"):
        app.replace_release_blob("Firefox-1.0-build1", 2, blob(), changed_by="alice")
    with pytest.raises(Invalid, match="read-only"):
        app.delete_release("Firefox-1.0-build1", 2, changed_by="alice")
    app.set_release_read_only("Firefox-1.0-build1", 2, False, changed_by="alice")
    app.replace_release_blob("Firefox-1.0-build1", 3, blob(appv="1.1"), changed_by="alice")
    assert app.get_release("Firefox-1.0-build1").blob["appv"] == "1.1"


def test_shutoff_life_cycle(app: RulelogApp) -> None:
    shutoff = app.create_shutoff("Firefox", "release", changed_by="alice", comment="incident")
    assert shutoff.as_balrog() == {
        "product": "Firefox",
        "channel": "release",
        "comment": "incident",
        "data_version": 1,
    }
    with pytest.raises(Conflict):
        app.create_shutoff("Firefox", "release", changed_by="alice")
    with pytest.raises(Conflict):
        app.delete_shutoff("Firefox", "release", 7, changed_by="alice")
    app.delete_shutoff("Firefox", "release", 1, changed_by="alice")
    with pytest.raises(NotFound):
        app.get_shutoff("Firefox", "release")
    assert app.create_shutoff("Firefox", "release", changed_by="bob").data_version == 1


def test_pin_life_cycle(app: RulelogApp) -> None:
    pin = app.create_pin("Firefox", "release", "1.", "Firefox-1.0-build1", changed_by="alice")
    assert pin.as_balrog()["mapping"] == "Firefox-1.0-build1"
    with pytest.raises(Conflict):
        app.create_pin("Firefox", "release", "1.", "Firefox-1.0-build1", changed_by="alice")
    with pytest.raises(Invalid, match="no release named"):
        app.create_pin("Firefox", "release", "2.", "Missing", changed_by="alice")
    app.delete_pin("Firefox", "release", "1.", 1, changed_by="alice")
    with pytest.raises(NotFound):
        app.get_pin("Firefox", "release", "1.")


def test_data_version_must_be_an_integer(app: RulelogApp) -> None:
    rule = app.create_rule(RULE, changed_by="alice")
    with pytest.raises(Invalid, match="data_version"):
        app.update_rule(rule.rule_id, "1", {"priority": 3}, changed_by="alice")  # type: ignore[arg-type]


def test_unknown_rule_is_not_found(app: RulelogApp) -> None:
    with pytest.raises(NotFound):
        app.update_rule(99, 1, {"priority": 3}, changed_by="alice")
    with pytest.raises(NotFound):
        app.get_rule("no-such-alias")


def test_release_used_by_many_rules_survives_index_snapshots(app: RulelogApp) -> None:
    """The usage index is snapshotted every 50 events; its set must round-trip."""
    for priority in range(60):
        app.create_rule({**RULE, "priority": priority}, changed_by="alice")
    with pytest.raises(Conflict, match="rule 60"):
        app.delete_release("Firefox-1.0-build1", 1, changed_by="alice")
