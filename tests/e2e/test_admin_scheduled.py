"""``/api/scheduled_changes/rules``: the whole workflow over HTTP, as Balrog answers it.

Scheduling, reading, modifying, signing off (with the test-view fingerprints
the agent checks), enacting, cancelling, revisions and reverting, with
Balrog's refusals: past ``when``, missing fields, stale versions, a second
pending change, a role not held, enacting before the signoffs.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.conftest import AdminClient
from tests.e2e.scheduled_support import WHEN, load, schedule_refused

PAST = 1_500_000_000_000


@pytest.fixture
def guarded(admin: AdminClient, fixture_snapshot: dict) -> AdminClient:
    """Fixture data; Firefox release needs one relman signoff; releng holds relman."""
    return load(admin, fixture_snapshot, ("alice", "bob", "releng"), guarded=True)


def schedule_rule_update(admin: AdminClient, **changes: Any) -> dict[str, Any]:
    rule = admin.get("/rules/1", as_user=None).json
    body = {
        "change_type": "update",
        "when": WHEN,
        "rule_id": 1,
        "data_version": rule["data_version"],
        **changes,
    }
    answer = admin.post("/scheduled_changes/rules", body)
    assert answer.status == 200, answer.text
    return answer.json


def test_schedule_sign_off_and_enact(guarded: AdminClient) -> None:
    made = schedule_rule_update(guarded, priority=91)
    assert made == {"sc_id": 1, "signoffs": {}}
    listed = guarded.get("/scheduled_changes/rules", as_user=None).json
    assert listed["count"] == 1
    row = listed["scheduled_changes"][0]
    assert row["sc_id"] == 1 and row["priority"] == 91 and row["mapping"] == "Firefox-121.0-build1"
    assert row["when"] == WHEN and row["telemetry_uptake"] is None
    assert row["complete"] is False and row["scheduled_by"] == "alice"
    assert row["sc_data_version"] == 1 and row["data_version"] == 1
    assert row["signoffs"] == {} and row["required_signoffs"] == {"relman": 1}

    early = guarded.post("/scheduled_changes/rules/1/enact")
    assert early.status == 400
    assert early.json["detail"] == "Signoff Required"
    assert early.json["exception"] == "No Signoffs given"

    signed = guarded.post(
        "/scheduled_changes/rules/1/signoffs", {"role": "relman"}, as_user="releng"
    )
    assert signed.status == 200 and signed.json == {}
    before = guarded.event_count()
    again = guarded.post(
        "/scheduled_changes/rules/1/signoffs", {"role": "relman"}, as_user="releng"
    )
    assert again.status == 200 and guarded.event_count() == before
    one = guarded.get("/scheduled_changes/rules/1", as_user=None).json["scheduled_change"]
    assert one["signoffs"] == {"releng": "relman"}
    # The HTTP signoff recorded the test view it was given on, as the CLI's does.
    change = guarded.service.get_scheduled_change("rules", 1)
    assert change.signoff_fingerprints["releng"].keys() == {"release"}

    enacted = guarded.post("/scheduled_changes/rules/1/enact")
    assert enacted.status == 200 and enacted.json == {}
    assert guarded.get("/rules/1", as_user=None).json["priority"] == 91
    change = guarded.service.get_scheduled_change("rules", 1)
    assert change.status == "enacted" and "release" in change.verification["channels"]
    assert guarded.get("/scheduled_changes/rules", as_user=None).json["count"] == 0
    complete = guarded.get("/scheduled_changes/rules", query={"all": 1}, as_user=None).json
    assert complete["count"] == 1 and complete["scheduled_changes"][0]["complete"] is True
    assert complete["scheduled_changes"][0]["required_signoffs"] == {}
    again = guarded.post("/scheduled_changes/rules/1/enact")
    assert again.status == 400


def test_signoff_refusals(guarded: AdminClient) -> None:
    schedule_rule_update(guarded, priority=91)
    before = guarded.event_count()
    wrong = guarded.post("/scheduled_changes/rules/1/signoffs", {"role": "qa"}, as_user="releng")
    assert wrong.status == 403
    assert wrong.json["exception"] == "releng cannot signoff with role 'qa'"
    nobody = guarded.post("/scheduled_changes/rules/1/signoffs", {"role": "relman"}, as_user=None)
    assert nobody.status == 401
    outsider = guarded.post(
        "/scheduled_changes/rules/1/signoffs", {"role": "relman"}, as_user="bob"
    )
    assert outsider.status == 403
    no_role = guarded.post("/scheduled_changes/rules/1/signoffs", {}, as_user="releng")
    assert no_role.status == 400 and no_role.json["detail"] == "'role' is a required property"
    unknown = guarded.post(
        "/scheduled_changes/rules/9/signoffs", {"role": "relman"}, as_user="releng"
    )
    assert unknown.status == 404
    assert guarded.event_count() == before


def test_revoke_signoff(guarded: AdminClient) -> None:
    schedule_rule_update(guarded, priority=91)
    guarded.post("/scheduled_changes/rules/1/signoffs", {"role": "relman"}, as_user="releng")
    nobody = guarded.delete("/scheduled_changes/rules/1/signoffs", as_user=None)
    assert nobody.status == 401
    revoked = guarded.delete("/scheduled_changes/rules/1/signoffs", as_user="releng")
    assert revoked.status == 200 and revoked.json == {}
    assert (
        guarded.get("/scheduled_changes/rules/1", as_user=None).json["scheduled_change"]["signoffs"]
        == {}
    )
    before = guarded.event_count()
    none_left = guarded.delete("/scheduled_changes/rules/1/signoffs", query={"username": "releng"})
    assert none_left.status == 200
    assert none_left.json == {"error": "alice has no signoff to revoke"}
    assert guarded.event_count() == before


def test_schedule_refusals_change_nothing(guarded: AdminClient) -> None:
    before = guarded.event_count()
    rules = "/scheduled_changes/rules"
    cases: list[tuple[dict[str, Any], str, str | None]] = [
        (
            {"change_type": "update", "rule_id": 1, "data_version": 1},
            "'when' cannot be set to null when scheduling a new change for a Rule",
            None,
        ),
        (
            {"change_type": "update", "rule_id": 1, "data_version": 1, "when": PAST},
            "Changes may not be scheduled in the past",
            None,
        ),
        (
            {"change_type": "update", "rule_id": 1, "when": WHEN},
            "Missing field",
            "data_version is missing",
        ),
        (
            {"change_type": "insert", "when": WHEN, "priority": 1, "backgroundRate": 100},
            "Null/Empty Value",
            "update_type cannot be set to null/empty when scheduling insertion of a new rule",
        ),
        (
            {
                "change_type": "insert",
                "when": WHEN,
                "priority": 1,
                "backgroundRate": 100,
                "update_type": "minor",
                "mapping": "no-such-release",
            },
            "Invalid mapping value. No release name found in DB",
            None,
        ),
        ({"when": WHEN, "rule_id": 1}, "Invalid or missing change_type", None),
        (
            {"change_type": "update", "when": WHEN, "rule_id": 1, "data_version": 1, "sc_id": 4},
            "sc_id cannot be set when scheduling a new change",
            None,
        ),
    ]
    for body, detail, exception in cases:
        answer = guarded.post(rules, body)
        assert answer.status == 400, (body, answer.text)
        assert answer.json["detail"] == detail
        if exception is not None:
            assert answer.json["exception"] == exception
    stale = guarded.post(
        rules, {"change_type": "update", "rule_id": 1, "data_version": 7, "when": WHEN}
    )
    assert stale.status == 400 and stale.json["detail"] == "OutdatedDataError"
    assert guarded.post(rules, {"change_type": "delete"}, as_user=None).status == 401
    # A caller without permissions (a machine account, no "@") gets Balrog's view checks.
    unchecked = guarded.post(rules, {"change_type": "delete"}, as_user="bob")
    assert (unchecked.status, unchecked.json["detail"]) == (
        400,
        "'when' cannot be set to null when scheduling a new change for a Rule",
    )
    assert guarded.event_count() == before


def test_one_pending_change_per_rule(guarded: AdminClient) -> None:
    schedule_rule_update(guarded, priority=91)
    before = guarded.event_count()
    second = guarded.post(
        "/scheduled_changes/rules",
        {"change_type": "delete", "rule_id": 1, "data_version": 1, "when": WHEN},
    )
    assert second.status == 400 and second.json["detail"] == "ChangeScheduledError"
    assert guarded.event_count() == before


def test_insert_needs_no_signoff_and_enacts(guarded: AdminClient) -> None:
    body = {
        "change_type": "insert",
        "when": WHEN,
        "priority": 5,
        "backgroundRate": 100,
        "update_type": "minor",
        "product": "Firefox",
        "channel": "sc-test",
        "mapping": "Firefox-121.0-build1",
    }
    made = guarded.post("/scheduled_changes/rules", body)
    assert made.status == 200, made.text
    row = guarded.get("/scheduled_changes/rules/1", as_user=None).json["scheduled_change"]
    assert row["rule_id"] is None and row["data_version"] is None
    assert row["required_signoffs"] == {}
    assert guarded.post("/scheduled_changes/rules/1/enact").status == 200
    rules = guarded.get("/rules", as_user=None).json["rules"]
    assert any(r["channel"] == "sc-test" for r in rules)


def test_modify(guarded: AdminClient) -> None:
    schedule_rule_update(guarded, priority=91)
    guarded.post("/scheduled_changes/rules/1/signoffs", {"role": "relman"}, as_user="releng")
    path = "/scheduled_changes/rules/1"
    before = guarded.event_count()
    missing = guarded.post(path, {"priority": 92, "data_version": 1})
    assert missing.status == 400
    assert missing.json["detail"] == "'sc_data_version' is a required property"
    stale = guarded.post(path, {"priority": 92, "data_version": 1, "sc_data_version": 5})
    assert stale.status == 400 and stale.json["detail"] == "OutdatedDataError"
    past = guarded.post(path, {"when": PAST, "data_version": 1, "sc_data_version": 1})
    assert past.status == 400
    assert past.json["detail"] == "Changes may not be scheduled in the past"
    no_version = guarded.post(path, {"priority": 92, "sc_data_version": 1})
    assert no_version.status == 400 and no_version.json["exception"] == "data_version is missing"
    unknown = guarded.post("/scheduled_changes/rules/9", {"sc_data_version": 1})
    assert unknown.status == 404 and unknown.json["detail"] == "Unknown sc_id"
    assert guarded.post(path, {"sc_data_version": 1}, as_user=None).status == 401
    unchecked = guarded.post(path, {"sc_data_version": 1}, as_user="bob")
    assert (unchecked.status, unchecked.json["exception"]) == (400, "data_version is missing")
    assert guarded.event_count() == before

    changed = guarded.post(path, {"priority": 92, "data_version": 1, "sc_data_version": 1})
    assert changed.status == 200, changed.text
    # Modifying resets the others' signoffs, as in Balrog.
    assert changed.json == {"new_data_version": 2, "signoffs": {}}
    row = guarded.get(path, as_user=None).json["scheduled_change"]
    assert row["priority"] == 92 and row["sc_data_version"] == 2


def test_telemetry_conditions(guarded: AdminClient) -> None:
    both = guarded.post(
        "/scheduled_changes/rules",
        {
            "change_type": "update",
            "rule_id": 1,
            "data_version": 1,
            "when": WHEN,
            "telemetry_product": "Firefox",
            "telemetry_channel": "release",
            "telemetry_uptake": 50,
        },
    )
    assert both.status == 400
    schedule_rule_update(guarded, priority=91)
    to_uptake = guarded.post(
        "/scheduled_changes/rules/1",
        {
            "when": None,
            "telemetry_product": "Firefox",
            "telemetry_channel": "release",
            "telemetry_uptake": 50,
            "data_version": 1,
            "sc_data_version": 1,
        },
    )
    assert to_uptake.status == 200, to_uptake.text
    row = guarded.get("/scheduled_changes/rules/1", as_user=None).json["scheduled_change"]
    assert row["when"] is None and row["telemetry_uptake"] == 50
    assert row["telemetry_product"] == "Firefox" and row["telemetry_channel"] == "release"


def test_cancel(guarded: AdminClient) -> None:
    schedule_rule_update(guarded, priority=91)
    path = "/scheduled_changes/rules/1"
    before = guarded.event_count()
    assert guarded.delete(path).json["detail"] == "Missing query parameter 'data_version'"
    stale = guarded.delete(path, query={"data_version": 3})
    assert stale.status == 400 and stale.json["detail"] == "OutdatedDataError"
    assert guarded.delete(path, query={"data_version": 1}, as_user=None).status == 401
    assert guarded.delete(path, query={"data_version": 1}, as_user="bob").status == 403
    assert guarded.delete("/scheduled_changes/rules/9", query={"data_version": 1}).status == 404
    assert guarded.event_count() == before
    cancelled = guarded.delete(path, query={"data_version": 1})
    assert cancelled.status == 200 and cancelled.json == {}
    # Balrog deletes a cancelled change: it is gone from every listing.
    assert guarded.get(path, as_user=None).status == 404
    assert (
        guarded.get("/scheduled_changes/rules", query={"all": 1}, as_user=None).json["count"] == 0
    )


def test_revisions_and_revert(guarded: AdminClient) -> None:
    schedule_rule_update(guarded, priority=91)
    guarded.post(
        "/scheduled_changes/rules/1", {"priority": 92, "data_version": 1, "sc_data_version": 1}
    )
    path = "/scheduled_changes/rules/1/revisions"
    listed = guarded.get(path, as_user=None).json
    assert listed["count"] == 2
    newest, oldest = listed["revisions"]
    assert newest["priority"] == 92 and oldest["priority"] == 91
    assert newest["sc_data_version"] == 2 and oldest["changed_by"] == "alice"
    assert "signoffs" not in newest and newest["change_id"] > oldest["change_id"]
    paged = guarded.get(path, query={"page": 2, "limit": 1}, as_user=None).json
    assert paged["count"] == 2 and paged["revisions"][0]["priority"] == 91
    assert guarded.get("/scheduled_changes/rules/9/revisions", as_user=None).status == 404

    before = guarded.event_count()
    # Balrog's schema requires change_id, checked before login and lookups.
    assert guarded.post(path, {}).json["detail"] == "'change_id' is a required property"
    assert guarded.post(path, {}, as_user=None).status == 400
    bad = guarded.post(path, {"change_id": 999999})
    assert bad.status == 400
    assert bad.json["detail"] == "Invalid change_id : 999999 passed in the request body"
    assert guarded.post(path, {"change_id": oldest["change_id"]}, as_user=None).status == 401
    assert guarded.event_count() == before
    reverted = guarded.post(path, {"change_id": oldest["change_id"]})
    assert reverted.status == 200 and reverted.text == "Success"
    row = guarded.get("/scheduled_changes/rules/1", as_user=None).json["scheduled_change"]
    assert row["priority"] == 91 and row["sc_data_version"] == 3


def test_list_filter_by_rule(guarded: AdminClient) -> None:
    schedule_rule_update(guarded, priority=91)
    found = guarded.get("/scheduled_changes/rules", query={"rule_id": 1}, as_user=None).json
    assert found["count"] == 1
    other = guarded.get("/scheduled_changes/rules", query={"rule_id": 2}, as_user=None).json
    assert other["count"] == 0


# ------------------------------------------- Balrog's answers, side by side


def test_enact_checks_the_permission_first_and_an_enacted_update_is_outdated(
    guarded: AdminClient,
) -> None:
    schedule_rule_update(guarded, priority=91)
    before = guarded.event_count()
    # Balrog refuses before it even looks the change up, in its own (unformatted) words.
    for sc_id in (1, 99):
        denied = guarded.post(f"/scheduled_changes/rules/{sc_id}/enact", as_user="bob")
        assert (denied.status, denied.json["detail"]) == (403, "Permission Denied")
        assert denied.json["exception"] == (
            "('%s is not allowed to enact scheduled changes', 'bob')"
        )
    assert guarded.event_count() == before
    guarded.post("/scheduled_changes/rules/1/signoffs", {"role": "relman"}, as_user="releng")
    assert guarded.post("/scheduled_changes/rules/1/enact").status == 200
    # Enacting an update again runs against the row it already changed.
    again = guarded.post("/scheduled_changes/rules/1/enact")
    assert (again.status, again.json["detail"]) == (400, "OutdatedDataError")
    assert again.json["exception"] == (
        "Couldn't perform the request POST. Outdated Data Version. "
        "old_data_version doesn't match current data_version"
    )


def test_signoff_checks_the_role_before_the_change(guarded: AdminClient) -> None:
    before = guarded.event_count()
    answer = guarded.post("/scheduled_changes/rules/99/signoffs", {"role": "qa"}, as_user="bob")
    assert (answer.status, answer.json["detail"]) == (403, "Permission Denied")
    assert answer.json["exception"] == "bob cannot signoff with role 'qa'"
    assert guarded.event_count() == before


@pytest.mark.parametrize(
    ("body", "detail", "exception"),
    [
        (
            {"change_type": "bogus"},
            "change_type: 'bogus' is not one of ['insert', 'update', 'delete']",
            None,
        ),
        (
            {"change_type": "insert", "telemetry_product": "Firefox"},
            "Unknown error",
            "Invalid combination of conditions: dict_keys(['when', 'telemetry_product'])",
        ),
        (
            {"change_type": "insert", "telemetry_product": "Firefox", "telemetry_channel": "r",
             "telemetry_uptake": 5},
            "Unknown error",
            "Invalid combination of conditions: dict_keys(['when', 'telemetry_product', "
            "'telemetry_channel', 'telemetry_uptake'])",
        ),
    ],
)
def test_schedule_rule_refusals_in_balrogs_words(
    guarded: AdminClient, body: dict[str, Any], detail: str, exception: str | None
) -> None:
    rule = {"product": "Firefox", "channel": "e2e", "priority": 5, "backgroundRate": 100,
            "update_type": "minor", "mapping": "Firefox-121.0-build1", "when": WHEN}
    problem = schedule_refused(guarded, "/scheduled_changes/rules", {**rule, **body}, detail)
    assert problem.get("exception") == exception


# ------------------------------------------ round 2: Balrog's answers, side by side


def test_request_checks_come_before_the_login_and_lookups(guarded: AdminClient) -> None:
    before = guarded.event_count()
    path = "/scheduled_changes/rules"
    # Balrog's request validator runs before its login check: a 400, not a 401.
    no_type = guarded.post("/scheduled_changes/releases", {}, as_user=None)
    assert no_type.status == 400
    assert no_type.json["detail"] == "'change_type' is a required property"
    assert guarded.post(path, [], as_user=None).json["detail"] == "[] is not of type 'object'"
    text = guarded.post(path, "{not json", as_user=None)  # a JSON string
    assert text.json["detail"] == "'{not json' is not of type 'object'"
    broken = guarded.request(
        "POST", path, raw=b"{not json", headers={"Content-Type": "application/json"}, as_user=None
    )
    assert broken.status == 400 and broken.json["detail"] == "Request body is not valid JSON"
    # A check Balrog's handler makes comes after its login check.
    assert guarded.post(path, {"change_type": "delete"}, as_user=None).status == 401
    # rule_id is an integer: an alias is refused in the words of Balrog's form.
    alias = guarded.post(path, {"change_type": "delete", "when": WHEN, "rule_id": "some-alias",
                                "data_version": 1})
    assert alias.json == {
        "type": "about:blank", "title": "Bad Request", "status": 400,
        "detail": "Invalid input for rule_id. Not an integer. rule_id: 'some-alias' is not a "
        "'rule_id'",
    }
    assert guarded.event_count() == before


def test_listing_and_path_parameters_are_checked_as_balrog_does(guarded: AdminClient) -> None:
    path = "/scheduled_changes/rules"
    wrong = guarded.get(path, query={"rule_id": "fx"}, as_user=None)
    assert wrong.json["detail"] == "Wrong type, expected 'integer' for query parameter 'rule_id'"
    zero = guarded.get(path, query={"rule_id": 0}, as_user=None)
    assert zero.status == 400 and zero.json["detail"].startswith(
        "0 is less than the minimum of 1\n\nFailed validating 'minimum' in schema:\n"
        "    {'name': 'rule_id',\n     'in': 'query',\n     'description': 'A rule_id',"
    )
    negative = guarded.get(f"{path}/-1", as_user=None)
    assert negative.status == 400 and negative.json["detail"].endswith("On instance:\n    -1")
    assert guarded.get(f"{path}/abc", as_user=None).status == 404  # no route matches
    extra = guarded.delete(f"{path}/1/signoffs", query={"data_version": 1})
    assert extra.status == 400 and extra.json["title"] is None
    assert extra.json["detail"] == "Extra query parameter(s) data_version not in spec"
    # Balrog's spec has neither one scheduled shutoff nor its revisions.
    assert guarded.get("/scheduled_changes/emergency_shutoff/1", as_user=None).status == 405
    assert guarded.get("/scheduled_changes/emergency_shutoff/1/revisions").status == 404


def test_a_pending_change_is_reported_before_a_stale_data_version(guarded: AdminClient) -> None:
    schedule_rule_update(guarded, priority=91)
    before = guarded.event_count()
    # Balrog checks no data_version for a scheduled delete before the clash.
    clash = guarded.post("/scheduled_changes/rules",
                         {"change_type": "delete", "when": WHEN, "rule_id": 1, "data_version": 9})
    assert clash.json["detail"] == "ChangeScheduledError"
    assert guarded.event_count() == before
