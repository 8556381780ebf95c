"""``/api/rules`` over real HTTP: Balrog's answers for rules, good and bad."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.conftest import AdminClient

RELEASE = "Firefox-121.0-build1"
OTHER = "Firefox-120.0-build1"


def rule(**fields: Any) -> dict[str, Any]:
    base = {"mapping": RELEASE, "backgroundRate": 100, "priority": 50, "update_type": "minor",
            "product": "Firefox", "channel": "e2e"}
    return {**base, **fields}


def create(admin: AdminClient, **fields: Any) -> int:
    made = admin.post("/rules", rule(**fields))
    assert made.status == 200, made.text
    return int(made.text)


def refused(answer: Any, status: int, detail: str, exception: str | None = None) -> None:
    assert answer.status == status, answer.text
    assert answer.json["detail"] == detail
    # Balrog's validator gives its "Extra query parameter(s)" problem a null title.
    extra = detail.startswith("Extra query parameter(s)")
    assert (answer.json["title"] is None) if extra else answer.json["title"]
    assert answer.json["type"] == "about:blank"
    if exception is not None:
        assert answer.json["exception"] == exception


def unparsable(field: str, value: str, why: str) -> tuple[dict[str, Any], str]:
    """A rule whose ``field`` is ``value``, and Balrog's refusal: its parser's ``why``,
    then the schema's format error."""
    return rule(**{field: value}), f"{why} {field}: '{value}' is not a '{field}'"


def add_firefox_release_policy(admin: AdminClient) -> None:
    admin.service.grant_role("alice", "relman", "alice")
    admin.service.add_required_signoff(
        "product",
        {"product": "Firefox", "channel": "release", "role": "relman", "signoffs_required": 1},
        "alice",
    )


# ------------------------------------------------------------------- create


def test_create_answers_the_id_as_text_and_string_priority_is_an_integer(
    seeded: AdminClient,
) -> None:
    made = seeded.post("/rules", rule(priority="77", locale=" de, fr ", comment=" x "))
    assert made.status == 200 and made.headers["Content-Type"].startswith("text/html")
    got = seeded.get(f"/rules/{int(made.text)}", as_user=None).json
    assert (got["priority"], got["locale"], got["comment"]) == (77, "de,fr", "x")
    assert got["data_version"] == 1 and got["rule_id"] == int(made.text)


def test_create_ignores_unknown_members_as_balrog_does(seeded: AdminClient) -> None:
    rule_id = create(seeded, allowlist=None, frobnicate="x", data_version=7)
    got = seeded.get(f"/rules/{rule_id}").json
    assert "frobnicate" not in got and got["data_version"] == 1


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ({"product": "Firefox"}, "'update_type' is a required property"),
        ({"update_type": "minor", "backgroundRate": 1}, "'priority' is a required property"),
        (rule(priority="high"),
         "Invalid input for priority. Not an integer. priority: 'high' is not a 'priority'"),
        (rule(backgroundRate=101), "backgroundRate field value should be an integer <= 100 "
         "backgroundRate: 101 is not a 'backgroundRate'"),
        (rule(priority=1.5), "priority: 1.5 is not of type 'integer', 'string', 'null'"),
        (rule(update_type="big"), "update_type: 'big' is not one of ['major', 'minor']"),
        (rule(alias="9lives"),
         "alias: '9lives' does not match '(^[a-zA-Z][a-zA-Z0-9-]*$|^$)'"),
        (rule(channel="nightlyÁ"), "value must be ascii channel: 'nightlyÁ' is not a 'ascii'"),
        (rule(mapping=None), "mapping value cannot be set to null/empty"),
        ({k: v for k, v in rule().items() if k != "mapping"},
         "mapping value cannot be set to null/empty"),
        (rule(mapping="nope"), "Invalid mapping value. No release name found in DB"),
        (rule(fallbackMapping="nope"),
         "Invalid fallbackMapping value. No release name found in DB"),
        ([1], "[1] is not of type 'object'"),
        # Balrog's version and buildID checks, each part of a list in turn.
        unparsable("version", "<abc", "Invalid input for <abc . No Operator or Match found."),
        unparsable("version", "bad<", "Invalid input for bad< . No Operator or Match found."),
        unparsable("version", "70.*,71.0", "Invalid input for 70.*,71.0 .Relational Operators"
                   " are not allowed when providing a list of versions."),
        unparsable("version", "1.0,,", "Invalid input for 1.0,, . No Operator or Match found."),
        unparsable("buildID", "*", "Invalid input for buildID: must be an integer."),
        unparsable("buildID", "<", "Invalid input for buildID : <. No Operator or Match found."),
    ],
)
def test_create_refuses_bad_bodies_with_balrogs_texts(
    seeded: AdminClient, body: Any, detail: str
) -> None:
    before = seeded.event_count()
    refused(seeded.post("/rules", body), 400, detail)
    assert seeded.event_count() == before


def test_create_refuses_a_used_alias_and_a_rule_id(seeded: AdminClient) -> None:
    create(seeded, alias="taken")
    before = seeded.event_count()
    refused(seeded.post("/rules", rule(alias="taken")), 400, "Rule with alias exists.")
    refused(
        seeded.post("/rules", rule(rule_id=999)),
        400,
        "Unknown error",
        "Cannot set autoincrement primary key 'rule_id' on insert",
    )
    assert seeded.event_count() == before


def test_create_needs_a_token_and_permission(seeded: AdminClient) -> None:
    before = seeded.event_count()
    assert seeded.post("/rules", rule(), as_user=None).status == 401
    answer = seeded.post("/rules", rule(), as_user="bob")
    assert answer.status == 403
    seeded.service.grant_permission("releng", "rule", {"products": ["Thunderbird"]}, "alice")
    seeded.token_for("releng")
    before = seeded.event_count()
    refused(
        seeded.post("/rules", rule(), as_user="releng"),
        403,
        "Permission Denied",
        "releng is not allowed to create new rules for product Firefox",
    )
    assert seeded.event_count() == before


def test_create_under_a_signoff_policy_is_refused(seeded: AdminClient) -> None:
    add_firefox_release_policy(seeded)
    before = seeded.event_count()
    answer = seeded.post("/rules", rule(channel="release"))
    refused(answer, 400, "Signoff Required", "No Signoffs given")
    assert seeded.event_count() == before


# --------------------------------------------------------------------- read


def test_list_filters_and_orders_as_balrog(seeded: AdminClient) -> None:
    low, high = create(seeded, priority=1), create(seeded, priority=999, product="Thunderbird")
    listed = seeded.get("/rules", as_user=None).json
    ids = [r["rule_id"] for r in listed["rules"]]
    assert listed["count"] == len(ids) and ids.index(low) < ids.index(high)
    priorities = [r["priority"] for r in listed["rules"]]
    assert priorities == sorted(priorities)
    only = seeded.get("/rules", query={"product": "Thunderbird"}).json["rules"]
    assert high in [r["rule_id"] for r in only] and {r["product"] for r in only} == {"Thunderbird"}


def test_list_at_a_timestamp_shows_rules_as_they_were(seeded: AdminClient) -> None:
    rule_id = create(seeded, priority=3)
    first = seeded.get(f"/rules/{rule_id}/revisions").json["rules"][0]["timestamp"]
    seeded.put(f"/rules/{rule_id}", {"priority": 4, "data_version": 1})
    at = seeded.get("/rules", query={"timestamp": first}).json["rules"]
    row = next(r for r in at if r["rule_id"] == rule_id)
    assert row["priority"] == 3 and row["data_version"] == 1 and "change_id" in row
    refused(
        seeded.get("/rules", query={"timestamp": first, "product": "Firefox"}),
        400,
        "Cannot query with a timestamp and a product at the same time",
    )
    extra = seeded.get("/rules", query={"limit": 2})
    assert extra.status == 400
    assert extra.json["detail"] == "Extra query parameter(s) limit not in spec"
    assert extra.json["title"] is None  # as Balrog's validator answers


def test_get_by_id_and_alias_and_404(seeded: AdminClient) -> None:
    rule_id = create(seeded, alias="by-alias")
    assert seeded.get("/rules/by-alias").json["rule_id"] == rule_id
    refused(seeded.get("/rules/404404"), 404, "Requested rule wasn't found",
            "Requested rule does not exist")
    refused(seeded.get("/rules/no-such-alias"), 404, "Requested rule wasn't found")


def test_columns(seeded: AdminClient) -> None:
    create(seeded, product="Zzz")
    got = seeded.get("/rules/columns/product", as_user=None).json
    assert got["count"] == len(got["product"]) and "Zzz" in got["product"]
    assert len(set(got["product"])) == len(got["product"]) and None not in got["product"]
    refused(seeded.get("/rules/columns/nope"), 404, "Rule column was not found",
            "Requested column does not exist")


# ------------------------------------------------------------------- update


@pytest.mark.parametrize("method", ["PUT", "POST"])
def test_update_by_id_or_alias(seeded: AdminClient, method: str) -> None:
    rule_id = create(seeded, alias="upd")
    send = seeded.put if method == "PUT" else seeded.post
    answer = send("/rules/upd", {"backgroundRate": "50", "data_version": 1, "rule_id": rule_id})
    assert answer.status == 200 and answer.json == {"new_data_version": 2}
    answer = send(f"/rules/{rule_id}", {"mapping": OTHER, "data_version": "2", "junk": 1})
    assert answer.json == {"new_data_version": 3}
    got = seeded.get(f"/rules/{rule_id}").json
    assert (got["backgroundRate"], got["mapping"], got["alias"]) == (50, OTHER, "upd")


def test_update_refusals(seeded: AdminClient) -> None:
    rule_id = create(seeded)
    create(seeded, alias="other")
    before = seeded.event_count()
    path = f"/rules/{rule_id}"
    refused(seeded.put(path, {"priority": 1}), 400, "'data_version' is a required property")
    refused(seeded.put(path, {"priority": 1, "data_version": 0}), 400,
            "data_version field value should be an integer >= 1 "
            "data_version: 0 is not a 'data_version'")
    refused(seeded.put(path, {"mapping": "", "data_version": 1}), 400,
            "mapping value cannot be set to null/empty")
    refused(seeded.put(path, {"mapping": "nope", "data_version": 1}), 400,
            "Invalid mapping value. No release name found in DB")
    refused(seeded.put(path, {"priority": 2, "data_version": 9}), 400, "OutdatedDataError")
    refused(seeded.put("/rules/999999", {"priority": 2, "data_version": 1}), 404,
            "Requested rule wasn't found", "Requested rule does not exist")
    assert seeded.put(path, {"priority": 2, "data_version": 1}, as_user=None).status == 401
    assert seeded.put(path, {"priority": 2, "data_version": 1}, as_user="bob").status == 403
    answer = seeded.put(path, {"alias": "other", "data_version": 1})
    assert answer.status == 400 and "other" in answer.json["detail"]
    assert seeded.event_count() == before


def test_update_into_a_signed_off_channel_is_refused(seeded: AdminClient) -> None:
    add_firefox_release_policy(seeded)
    rule_id = create(seeded)
    before = seeded.event_count()
    answer = seeded.put(f"/rules/{rule_id}", {"channel": "release", "data_version": 1})
    refused(answer, 400, "Signoff Required", "No Signoffs given")
    assert seeded.event_count() == before


def test_update_merges_into_a_pending_change_or_refuses(seeded: AdminClient) -> None:
    rule_id = create(seeded)
    seeded.service.schedule_change(
        "rules", "update", {"rule_id": rule_id, "priority": 60},
        {"when": "2999-01-01T00:00:00+00:00"}, "alice", data_version=1,
    )
    merged = seeded.put(f"/rules/{rule_id}", {"comment": "fine", "data_version": 1})
    assert merged.status == 200, merged.text
    before = seeded.event_count()
    clash = seeded.put(f"/rules/{rule_id}", {"priority": 70, "data_version": 2})
    refused(clash, 400, "UpdateMergeError",
            "Couldn't perform the request PUT due to merge error. "
            "Is there a scheduled change that conflicts with yours?")
    refused(seeded.delete(f"/rules/{rule_id}", query={"data_version": 2}), 400,
            "ChangeScheduledError",
            "Couldn't perform the request DELETE due a conflict with a scheduled change. "
            "Cannot delete rows that have changes scheduled.")
    assert seeded.event_count() == before


# ------------------------------------------------------------------- delete


def test_delete_by_alias_and_refusals(seeded: AdminClient) -> None:
    create(seeded, alias="gone")
    before = seeded.event_count()
    refused(seeded.delete("/rules/gone"), 400, "Missing query parameter 'data_version'")
    refused(seeded.delete("/rules/gone", query={"data_version": "x"}), 400,
            "Wrong type, expected 'integer' for query parameter 'data_version'")
    refused(seeded.delete("/rules/gone", query={"data_version": 5}), 400, "OutdatedDataError")
    assert seeded.delete("/rules/gone", query={"data_version": 1}, as_user=None).status == 401
    assert seeded.delete("/rules/gone", query={"data_version": 1}, as_user="bob").status == 403
    assert seeded.event_count() == before
    answer = seeded.delete("/rules/gone", query={"data_version": 1})
    assert answer.status == 200 and answer.body == b""
    refused(seeded.get("/rules/gone"), 404, "Requested rule wasn't found")
    refused(seeded.delete("/rules/gone", query={"data_version": 1}), 404,
            "Requested rule wasn't found")


def test_delete_under_a_signoff_policy_is_refused(seeded: AdminClient) -> None:
    rule_id = create(seeded, channel="release")
    add_firefox_release_policy(seeded)
    before = seeded.event_count()
    answer = seeded.delete(f"/rules/{rule_id}", query={"data_version": 1})
    refused(answer, 400, "Signoff Required", "No Signoffs given")
    assert seeded.event_count() == before


def test_an_unknown_method_is_balrogs_405(seeded: AdminClient) -> None:
    answer = seeded.request("PATCH", "/rules/1", json_body={})
    refused(answer, 405, "The method is not allowed for the requested URL.")


# ------------------------------------------ round 2: Balrog's answers, side by side


def test_rules_at_a_time_come_in_change_order(seeded: AdminClient) -> None:
    first, second = create(seeded, channel="e2e-a"), create(seeded, channel="e2e-b")
    touched = seeded.put(f"/rules/{first}", {"priority": 60, "data_version": 1})
    assert touched.status == 200, touched.text
    now = 9_999_999_999_999
    listed = seeded.get("/rules", query={"timestamp": now}, as_user=None).json
    # Balrog's point-in-time query has no ORDER BY: the last-changed rule comes last.
    assert [r["rule_id"] for r in listed["rules"]][-2:] == [second, first]
    assert seeded.get("/rules", query={"timestamp": -5}).json == {"count": 0, "rules": []}


def test_direct_edit_checks_permission_then_signoffs_then_data_version(
    seeded: AdminClient,
) -> None:
    rule_id = create(seeded, channel="release")
    seeded.service.grant_permission("carl", "rule", {"products": ["Thunderbird"]}, "alice")
    seeded.token_for("carl")  # issuing a token is an event
    before = seeded.event_count()
    stale = {"priority": 5, "data_version": 7}
    refused(seeded.put(f"/rules/{rule_id}", stale, as_user="carl"), 403, "Permission Denied",
            "carl is not allowed to modify rules for product Firefox")
    refused(seeded.delete(f"/rules/{rule_id}", query={"data_version": 7}, as_user="carl"),
            403, "Permission Denied", "carl is not allowed to delete rules for product Firefox")
    assert seeded.event_count() == before
    add_firefox_release_policy(seeded)
    before = seeded.event_count()
    refused(seeded.put(f"/rules/{rule_id}", stale), 400, "Signoff Required", "No Signoffs given")
    refused(seeded.delete(f"/rules/{rule_id}", query={"data_version": 7}), 400,
            "Signoff Required", "No Signoffs given")
    assert seeded.event_count() == before
