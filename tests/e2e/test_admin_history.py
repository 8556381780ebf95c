"""Rule revisions (list, revert) and Balrog's history listings, over real HTTP."""

from __future__ import annotations

from typing import Any

from tests.e2e.conftest import AdminClient
from tests.e2e.test_admin_rules import add_firefox_release_policy, create, refused

FUTURE = {"when": "2999-01-01T00:00:00+00:00"}


def edited(admin: AdminClient) -> int:
    """A rule created (priority 10), then changed twice (20, then 30)."""
    rule_id = create(admin, priority=10, comment="first")
    for version, priority in ((1, 20), (2, 30)):
        answer = admin.put(f"/rules/{rule_id}", {"priority": priority, "data_version": version})
        assert answer.status == 200, answer.text
    return rule_id


# ---------------------------------------------------------------- revisions


def test_revisions_newest_first_and_paged(seeded: AdminClient) -> None:
    rule_id = edited(seeded)
    got = seeded.get(f"/rules/{rule_id}/revisions", as_user=None).json
    assert got["count"] == 3
    assert [r["priority"] for r in got["rules"]] == [30, 20, 10]
    assert [r["data_version"] for r in got["rules"]] == [3, 2, 1]
    first = got["rules"][0]
    assert {"change_id", "changed_by", "timestamp", "rule_id", "alias", "jaws"} <= set(first)
    page = seeded.get(f"/rules/{rule_id}/revisions", query={"limit": 1, "page": 2}).json
    assert page["count"] == 3 and [r["priority"] for r in page["rules"]] == [20]


def test_revisions_refusals(seeded: AdminClient) -> None:
    missing = seeded.get("/rules/987654/revisions")
    assert missing.status == 404 and missing.text == "Requested rule does not exist"
    by_alias = seeded.get("/rules/some-alias/revisions")
    assert by_alias.status == 404 and by_alias.json["title"] == "Not Found"
    rule_id = create(seeded)
    # Balrog's validator prints the parameter's spec after the message.
    refused(seeded.get(f"/rules/{rule_id}/revisions", query={"page": 0}), 400,
            "0 is less than the minimum of 1\n\nFailed validating 'minimum' in schema:\n"
            "    {'name': 'page',\n     'in': 'query',\n"
            "     'description': 'Variable value used pagination of response revisions.',\n"
            "     'type': 'integer',\n     'minimum': 1,\n     'x-nullable': True}\n\n"
            "On instance:\n    0")
    extra = seeded.get(f"/rules/{rule_id}/revisions", query={"sort": "x"})
    assert extra.status == 400
    assert extra.json["detail"] == "Extra query parameter(s) sort not in spec"
    assert extra.json["title"] is None  # Balrog's problem has a null title here
    # Balrog lists rules at a (even negative) time in change order.
    assert seeded.get("/rules", query={"timestamp": -1}).json == {"count": 0, "rules": []}
    # A trailing slash is another URL (404), not a redirect.
    assert seeded.get(f"/rules/{rule_id}/revisions/").status == 404


def test_revert_to_a_revision(seeded: AdminClient) -> None:
    rule_id = edited(seeded)
    oldest = seeded.get(f"/rules/{rule_id}/revisions").json["rules"][-1]
    answer = seeded.post(f"/rules/{rule_id}/revisions", {"change_id": oldest["change_id"]})
    assert answer.status == 200 and answer.text == "Excellent!"
    now = seeded.get(f"/rules/{rule_id}").json
    assert (now["priority"], now["comment"], now["data_version"]) == (10, "first", 4)
    assert seeded.get(f"/rules/{rule_id}/revisions").json["count"] == 4


def test_revert_refusals(seeded: AdminClient) -> None:
    rule_id = edited(seeded)
    other = create(seeded)
    change_id = seeded.get(f"/rules/{rule_id}/revisions").json["rules"][-1]["change_id"]
    foreign = seeded.get(f"/rules/{other}/revisions").json["rules"][0]["change_id"]
    path = f"/rules/{rule_id}/revisions"
    before = seeded.event_count()
    refused(seeded.post(path, {}), 400, "'change_id' is a required property")
    refused(seeded.post(path, {"change_id": "x"}), 400, "change_id: 'x' is not of type 'integer'")
    refused(seeded.post(path, {"change_id": 0}), 400, "No change_id passed in the request body")
    refused(seeded.post(path, {"change_id": 10**9}), 400,
            f"Invalid change_id : {10**9} passed in the request body")
    refused(seeded.post(path, {"change_id": foreign}), 400, "Bad rule_id passed in the request")
    refused(seeded.post("/rules/987654/revisions", {"change_id": change_id}), 404, "bad rule_id")
    assert seeded.post(path, {"change_id": change_id}, as_user=None).status == 401
    assert seeded.post(path, {"change_id": change_id}, as_user="bob").status == 403
    assert seeded.event_count() == before


def test_revert_under_a_signoff_policy_is_refused(seeded: AdminClient) -> None:
    rule_id = create(seeded, channel="release", priority=5)
    assert seeded.put(f"/rules/{rule_id}", {"priority": 6, "data_version": 1}).status == 200
    add_firefox_release_policy(seeded)
    change_id = seeded.get(f"/rules/{rule_id}/revisions").json["rules"][-1]["change_id"]
    before = seeded.event_count()
    answer = seeded.post(f"/rules/{rule_id}/revisions", {"change_id": change_id})
    refused(answer, 400, "Signoff Required", "No Signoffs given")
    assert seeded.event_count() == before


# ------------------------------------------------------------ history_all


def test_rules_history_lists_revisions_and_scheduled_changes(seeded: AdminClient) -> None:
    rule_id = edited(seeded)
    no_channel = create(seeded, channel=None)
    seeded.service.schedule_change(
        "rules", "update", {"rule_id": rule_id, "priority": 40}, FUTURE, "alice", data_version=3
    )
    got = seeded.get("/rules/history", as_user=None, query={"limit": 100}).json
    assert set(got) == {"Rules", "Rules scheduled change"}
    ids = [r["rule_id"] for r in got["Rules"]["revisions"]]
    assert ids.count(rule_id) == 3 and no_channel not in ids
    stamps = [r["timestamp"] for r in got["Rules"]["revisions"]]
    assert stamps == sorted(stamps, reverse=True)
    scheduled = got["Rules scheduled change"]
    assert scheduled["count"] == 1
    sc = scheduled["revisions"][0]
    assert (sc["rule_id"], sc["priority"], sc["sc_data_version"], sc["data_version"]) == (
        rule_id, 40, 1, 3
    )
    assert sc["complete"] is False and isinstance(sc["when"], int)


def test_rules_history_filters_and_pages(seeded: AdminClient) -> None:
    rule_id = edited(seeded)
    create(seeded, product="Thunderbird", channel="tb")
    mine = seeded.get("/rules/history", query={"channel": "e2e", "data_version": 2}).json["Rules"]
    assert [(r["rule_id"], r["priority"]) for r in mine["revisions"]] == [(rule_id, 20)]
    tb = seeded.get("/rules/history", query={"product": "Thunderbird"}).json["Rules"]
    assert tb["count"] >= 1 and {r["product"] for r in tb["revisions"]} == {"Thunderbird"}
    paged = seeded.get("/rules/history", query={"limit": 2, "page": 1}).json["Rules"]
    assert len(paged["revisions"]) == 2 and paged["count"] > 2
    latest = paged["revisions"][0]["timestamp"]
    after = seeded.get("/rules/history", query={"timestamp_from": latest + 1}).json["Rules"]
    assert after["count"] == 0
    by = seeded.get("/rules/history", query={"changed_by": "nobody"}).json["Rules"]
    assert by == {"revisions": [], "count": 0}
    refused(seeded.get("/rules/history", query={"role": "x"}), 400,
            "Extra query parameter(s) role not in spec")
    refused(seeded.get("/rules/history", query={"timestamp_to": "soon"}), 400,
            "Wrong type, expected 'integer' for query parameter 'timestamp_to'")


def test_permissions_history_needs_permission_view(seeded: AdminClient) -> None:
    seeded.service.grant_permission("releng", "rule", {"products": ["Firefox"]}, "alice")
    for user in ("bob", "releng", "alice"):
        seeded.token_for(user)
    before = seeded.event_count()
    assert seeded.get("/permissions/history", as_user=None).status == 401
    assert seeded.get("/permissions/history", as_user="bob").status == 403  # no permission
    assert seeded.get("/permissions/history", as_user="releng").status == 403  # not view
    got = seeded.get("/permissions/history", as_user="alice", query={"limit": 100}).json
    assert set(got) == {"Permissions", "Permissions Scheduled Change"}
    rows = got["Permissions"]["revisions"]
    granted = next(r for r in rows if r["username"] == "releng")
    assert granted["permission"] == "rule" and granted["options"] == {"products": ["Firefox"]}
    assert granted["data_version"] == 1 and granted["changed_by"] == "alice"
    refused(seeded.get("/permissions/history", query={"channel": "x"}), 400,
            "Extra query parameter(s) channel not in spec")
    assert seeded.event_count() == before


def test_required_signoffs_history(seeded: AdminClient) -> None:
    add_firefox_release_policy(seeded)
    seeded.service.grant_role("seed", "qa", "alice")
    seeded.service.add_required_signoff(
        "permissions", {"product": "Firefox", "role": "qa", "signoffs_required": 1}, "alice"
    )
    seeded.service.schedule_change(
        "required_signoffs/product",
        "insert",
        {"product": "Thunderbird", "channel": "beta", "role": "qa", "signoffs_required": 1},
        FUTURE,
        "alice",
    )
    product = seeded.get("/required_signoffs/product/history", as_user=None).json
    rows = product["Product Required Signoffs"]["required_signoffs"]
    assert product["Product Required Signoffs"]["count"] == 1
    assert (rows[0]["product"], rows[0]["channel"], rows[0]["role"]) == (
        "Firefox", "release", "relman"
    )
    assert rows[0]["signoffs_required"] == 1 and rows[0]["data_version"] == 1
    scheduled = product["Product Required Signoffs Scheduled Change"]
    assert scheduled["count"] == 1 and scheduled["revisions"][0]["product"] == "Thunderbird"
    by_role = seeded.get("/required_signoffs/product/history", query={"role": "qa"}).json
    assert by_role["Product Required Signoffs"]["count"] == 0
    assert by_role["Product Required Signoffs Scheduled Change"]["count"] == 1
    perms = seeded.get("/required_signoffs/permissions/history").json
    listed: Any = perms["Permissions Required Signoffs"]["required_signoffs"]
    assert [(r["product"], r["role"]) for r in listed] == [("Firefox", "qa")]
    assert perms["Permissions Required Signoffs Scheduled Change"]["count"] == 0
    refused(seeded.get("/required_signoffs/permissions/history", query={"channel": "x"}), 400,
            "Extra query parameter(s) channel not in spec")
