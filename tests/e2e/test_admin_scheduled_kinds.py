"""Scheduled changes of the kinds other than rules, over HTTP.

Releases (with the diff route), permissions, both kinds of required
signoffs, emergency shutoffs and pins: each is scheduled with its own body
and checks, read back in Balrog's row shape, and enacted; reverting works
for every kind (where Balrog fails for kinds without uptake columns).
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from tests.e2e.conftest import AdminClient
from tests.e2e.scheduled_support import WHEN, guard_release_channel, load, schedule_refused

RELEASE = "Firefox-121.0-build1"


@pytest.fixture
def loaded(admin: AdminClient, fixture_snapshot: dict) -> AdminClient:
    return load(admin, fixture_snapshot, ("alice", "bob", "releng"), guarded=False)


def test_release_update_diff_and_enact(loaded: AdminClient) -> None:
    guard_release_channel(loaded)  # rule 1 maps the release on Firefox release
    blob = copy.deepcopy(loaded.service.get_release(RELEASE).blob)
    blob["displayVersion"] = "121.0 (scheduled)"
    version = loaded.service.get_release(RELEASE).data_version
    body = {
        "change_type": "update",
        "when": WHEN,
        "name": RELEASE,
        "product": "Firefox",
        "data": json.dumps(blob),
        "data_version": version,
    }
    before = loaded.event_count()
    for missing, detail in (
        ("when", "'when' is a required property"),
        ("data_version", "Missing field"),
    ):
        answer = loaded.post(
            "/scheduled_changes/releases", {k: v for k, v in body.items() if k != missing}
        )
        assert answer.status == 400 and answer.json["detail"] == detail
    assert loaded.event_count() == before
    made = loaded.post("/scheduled_changes/releases", body)
    assert made.status == 200, made.text
    sc_id = made.json["sc_id"]
    row = loaded.get(f"/scheduled_changes/releases/{sc_id}", as_user=None).json["scheduled_change"]
    assert row["name"] == RELEASE and row["data"]["displayVersion"] == "121.0 (scheduled)"
    assert row["read_only"] is False and row["required_signoffs"] == {"relman": 1}
    diff = loaded.get(f"/scheduled_change/diff/release/{sc_id}", as_user=None)
    assert diff.status == 200 and diff.headers["Content-Type"].startswith("text/plain")
    assert f"+++ Scheduled Update (sc_id {sc_id})" in diff.text
    assert '+  "displayVersion": "121.0 (scheduled)",' in diff.text
    assert loaded.get("/scheduled_change/diff/release/99", as_user=None).status == 404
    signed = loaded.post(
        f"/scheduled_changes/releases/{sc_id}/signoffs", {"role": "relman"}, as_user="releng"
    )
    assert signed.status == 200
    assert loaded.post(f"/scheduled_changes/releases/{sc_id}/enact").status == 200
    assert loaded.service.get_release(RELEASE).blob["displayVersion"] == "121.0 (scheduled)"


def test_permission_insert_and_enact(loaded: AdminClient) -> None:
    body: dict[str, Any] = {
        "change_type": "insert",
        "when": WHEN,
        "permission": "release",
        "username": "carol",
        "options": json.dumps({"products": ["Firefox"]}),
    }
    missing = loaded.post("/scheduled_changes/permissions", {**body, "when": None})
    assert missing.status == 400
    assert missing.json["detail"] == (
        "'when' cannot be set to null when scheduling a new change for a Permission"
    )
    made = loaded.post("/scheduled_changes/permissions", body)
    assert made.status == 200, made.text
    # proposed grants show who will hold what: permission/view only (alice is admin)
    assert loaded.get("/scheduled_changes/permissions", as_user=None).status == 401
    listed = loaded.get("/scheduled_changes/permissions").json
    row = listed["scheduled_changes"][0]
    assert row["username"] == "carol" and row["options"] == {"products": ["Firefox"]}
    assert row["permission"] == "release" and "telemetry_uptake" not in row
    assert loaded.post(f"/scheduled_changes/permissions/{row['sc_id']}/enact").status == 200
    assert "release" in loaded.service.user("carol").permissions


def test_product_policy_schedule_and_enact(loaded: AdminClient) -> None:
    path = "/scheduled_changes/required_signoffs/product"
    body = {
        "change_type": "insert",
        "when": WHEN,
        "product": "Firefox",
        "channel": "beta",
        "role": "relman",
    }
    missing = loaded.post(path, body)
    assert missing.status == 400 and missing.json["exception"] == "signoffs_required is missing"
    made = loaded.post(path, {**body, "signoffs_required": 1})
    assert made.status == 200, made.text
    row = loaded.get(path, query={"product": "Firefox"}, as_user=None).json["scheduled_changes"][0]
    assert row["channel"] == "beta" and row["signoffs_required"] == 1 and row["role"] == "relman"
    assert loaded.get(path, query={"channel": "nightly"}, as_user=None).json["count"] == 0
    assert loaded.post(f"{path}/{row['sc_id']}/enact").status == 200
    assert loaded.service.policies().find(
        "product", {"product": "Firefox", "channel": "beta", "role": "relman"}
    )


def scheduled(loaded: AdminClient, path: str, change_type: str, **fields: Any) -> int:
    """Schedule a change at ``WHEN`` that must be accepted; its sc_id."""
    made = loaded.post(path, {"change_type": change_type, "when": WHEN, **fields})
    assert made.status == 200, made.text
    return made.json["sc_id"]


def test_permissions_policy_and_cancel(loaded: AdminClient) -> None:
    path = "/scheduled_changes/required_signoffs/permissions"
    sc_id = scheduled(loaded, path, "insert", product="Firefox", role="relman", signoffs_required=1)
    cancelled = loaded.delete(f"{path}/{sc_id}", query={"data_version": 1})
    assert cancelled.status == 200
    assert loaded.get(path, query={"all": 1}, as_user=None).json["count"] == 0


def test_shutoff_deletion_needs_signoff(loaded: AdminClient) -> None:
    guard_release_channel(loaded)
    loaded.service.create_shutoff("Firefox", "release", "alice", comment="stop")
    path = "/scheduled_changes/emergency_shutoff"
    wrong = loaded.post(
        path, {"change_type": "insert", "product": "Firefox", "channel": "release", "when": WHEN}
    )
    assert wrong.status == 400
    sc_id = scheduled(loaded, path, "delete", product="Firefox", channel="release", data_version=1)
    row = loaded.get(path, as_user=None).json["scheduled_changes"][0]
    assert (row["product"], row["channel"], row["change_type"]) == ("Firefox", "release", "delete")
    assert row["required_signoffs"] == {"relman": 1}
    assert loaded.post(f"{path}/{sc_id}/enact").json["detail"] == "Signoff Required"
    loaded.post(f"{path}/{sc_id}/signoffs", {"role": "relman"}, as_user="releng")
    assert loaded.post(f"{path}/{sc_id}/enact").status == 200
    assert loaded.get(path, query={"all": 1}, as_user=None).json["scheduled_changes"][0]["complete"]


def test_pin_insert_modify_and_revert(loaded: AdminClient) -> None:
    path = "/scheduled_changes/pinnable_releases"
    sc_id = scheduled(
        loaded, path, "insert", product="Firefox", channel="aurora", version="121.", mapping=RELEASE
    )
    changed = loaded.post(
        f"{path}/{sc_id}", {"mapping": "Firefox-120.0-build1", "sc_data_version": 1}
    )
    assert changed.status == 200 and changed.json["new_data_version"] == 2
    revisions = loaded.get(f"{path}/{sc_id}/revisions", as_user=None).json["revisions"]
    assert [r["mapping"] for r in revisions] == ["Firefox-120.0-build1", RELEASE]
    reverted = loaded.post(f"{path}/{sc_id}/revisions", {"change_id": revisions[1]["change_id"]})
    assert reverted.status == 200, reverted.text
    row = loaded.get(f"{path}/{sc_id}", as_user=None).json["scheduled_change"]
    assert row["mapping"] == RELEASE and row["sc_data_version"] == 3
    # A revision of another kind's change is not one of this change's.
    other = loaded.post(
        f"/scheduled_changes/rules/{sc_id}/revisions", {"change_id": revisions[1]["change_id"]}
    )
    assert other.status == 404
    assert loaded.post(f"{path}/{sc_id}/enact").status == 200


# ------------------------------------------- Balrog's answers, side by side

INVALID_JSON = (
    "Not a valid json. Error: Expecting property name enclosed in double quotes: "
    "line 1 column 2 (char 1). {field}: '{{bad' is not a 'JSONStringField'"
)


def _new_release(name: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "schema_version": 1, "hashFunction": "sha512", **extra}


@pytest.mark.parametrize(
    ("body", "detail", "exception"),
    [
        # Balrog's schema: the blob is JSON text, never an object.
        (
            {"data": {"name": "N", "schema_version": 1}},
            "data: {'name': 'N', 'schema_version': 1} is not of type 'string'",
            None,
        ),
        ({"data": "{bad"}, INVALID_JSON.format(field="data"), None),
        # Refused when scheduled, with every schema error listed.
        (
            {"data": json.dumps(_new_release("N", bogus=1, platforms={"p": {"locales": 5}}))},
            "Invalid Blob",
            [
                "Additional properties are not allowed ('bogus' was unexpected)",
                "{'locales': 5} is not valid under any of the given schemas",
            ],
        ),
    ],
)
def test_release_schedule_refusals(
    loaded: AdminClient, body: dict[str, Any], detail: str, exception: Any
) -> None:
    base = {"change_type": "insert", "when": WHEN, "name": "N", "product": "Firefox"}
    problem = schedule_refused(loaded, "/scheduled_changes/releases", {**base, **body}, detail)
    assert problem.get("exception") == exception


def test_release_deletion_with_rules_is_refused_when_scheduled(loaded: AdminClient) -> None:
    body = {"change_type": "delete", "when": WHEN, "name": RELEASE, "data_version": 1}
    problem = schedule_refused(loaded, "/scheduled_changes/releases", body, "Unknown error")
    assert problem["exception"] == (
        f"{RELEASE} has rules pointing to it. Hence it cannot be deleted."
    )


def test_inserted_release_row_is_writable(loaded: AdminClient) -> None:
    path = "/scheduled_changes/releases"
    data = json.dumps(_new_release("N"))
    sc_id = scheduled(loaded, path, "insert", name="N", product="Firefox", data=data)
    row = loaded.get(f"{path}/{sc_id}").json["scheduled_change"]
    assert row["read_only"] is False  # Balrog's column default, not null


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        (
            {"options": {"products": ["Firefox"]}},
            "options: {'products': ['Firefox']} is not of type 'string', 'null'",
        ),
        ({"options": "{bad"}, INVALID_JSON.format(field="options")),
        (
            {"permission": "bogus"},
            "permission: 'bogus' is not one of ['admin', 'emergency_shutoff', 'rule', 'release', "
            "'release_read_only', 'release_locale', 'required_signoff', 'permission', "
            "'scheduled_change', 'pinnable_release']",
        ),
    ],
)
def test_permission_schedule_refusals(
    loaded: AdminClient, body: dict[str, Any], detail: str
) -> None:
    base = {"change_type": "insert", "when": WHEN, "username": "zed", "permission": "rule"}
    schedule_refused(loaded, "/scheduled_changes/permissions", {**base, **body}, detail)


def test_policy_needs_enough_holders_when_scheduled(loaded: AdminClient) -> None:
    before = loaded.event_count()
    body = {"change_type": "insert", "when": WHEN, "product": "Firefox", "role": "relman",
            "signoffs_required": 2}
    answer = loaded.post("/scheduled_changes/required_signoffs/permissions", body)
    assert (answer.status, answer.json["detail"]) == (400, "Unknown error")
    assert answer.json["exception"] == (
        "Cannot require 2 signoffs for Firefox - only 1 users hold the relman role"
    )
    product = loaded.post(
        "/scheduled_changes/required_signoffs/product", {**body, "channel": "beta"}
    )
    assert product.json["exception"] == (
        "Cannot require 2 signoffs for Firefox, beta - only 1 users hold the relman role"
    )
    assert loaded.event_count() == before
