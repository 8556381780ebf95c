"""``/api/required_signoffs/...``: signoff policies over real HTTP, answered as Balrog does."""

from __future__ import annotations

from tests.e2e.conftest import AdminClient

RELEASE = {"product": "Firefox", "channel": "release", "role": "relman", "signoffs_required": 1}


def _holders(admin: AdminClient, role: str, *users: str) -> None:
    for user in users:
        admin.service.grant_permission(user, "rule", None, "alice")
        admin.service.grant_role(user, role, "alice")


def _quiet(admin: AdminClient, *users: str) -> int:
    for user in ("alice", *users):
        admin.token_for(user)
    return admin.event_count()


def test_create_list_and_filter_product_policies(admin: AdminClient) -> None:
    _holders(admin, "relman", "rm")
    assert admin.get("/required_signoffs/product", as_user=None).json == {
        "count": 0,
        "required_signoffs": [],
    }
    made = admin.post("/required_signoffs/product", {**RELEASE, "signoffs_required": "1"})
    assert (made.status, made.json) == (201, {"new_data_version": 1})
    listed = admin.get("/required_signoffs/product", as_user=None)
    assert listed.json == {"count": 1, "required_signoffs": [{**RELEASE, "data_version": 1}]}
    assert admin.get("/required_signoffs/product", query={"product": "Thunderbird"}).json == {
        "count": 0,
        "required_signoffs": [],
    }
    by_channel = admin.get("/required_signoffs/product", query={"channel": "release"})
    assert by_channel.json["count"] == 1


def test_changes_to_a_guarded_product_channel_need_signoff(admin: AdminClient) -> None:
    _holders(admin, "relman", "rm")
    _holders(admin, "qa", "tester")
    admin.service.add_required_signoff("product", RELEASE, "alice")
    before = _quiet(admin)
    same = admin.post("/required_signoffs/product", RELEASE)
    assert (same.status, same.json["detail"]) == (400, "Signoff Required")
    assert same.json["exception"] == "Required Signoffs cannot be directly modified"
    other_role = admin.post("/required_signoffs/product", {**RELEASE, "role": "qa"})
    assert (other_role.status, other_role.json["detail"]) == (400, "Signoff Required")
    assert other_role.json["exception"] == "No Signoffs given"
    assert admin.event_count() == before


def test_bad_policies_change_nothing(admin: AdminClient) -> None:
    _holders(admin, "relman", "rm")
    before = _quiet(admin)
    too_many = admin.post("/required_signoffs/product", {**RELEASE, "signoffs_required": 2})
    assert too_many.status == 400
    assert too_many.json["detail"] == (
        "('Cannot require 2 signoffs for Firefox, release - only 1 users hold the relman role',)"
    )
    missing = admin.post("/required_signoffs/product", {"product": "Firefox", "role": "relman"})
    assert (missing.status, missing.json["detail"]) == (400, "'channel' is a required property")
    word = admin.post("/required_signoffs/product", {**RELEASE, "signoffs_required": "two"})
    assert word.json["detail"] == (
        "Invalid input for signoffs_required. Not an integer. "
        "signoffs_required: 'two' is not a 'signoffs_required'"
    )
    zero = admin.post("/required_signoffs/permissions", {**RELEASE, "signoffs_required": 0})
    assert zero.status == 400
    assert zero.json["detail"].startswith("signoffs_required field value should be an integer >= 1")
    assert admin.event_count() == before


def test_creating_needs_a_token_and_permission(admin: AdminClient) -> None:
    _holders(admin, "relman", "rm")
    before = _quiet(admin, "rm", "bob")
    assert admin.post("/required_signoffs/product", RELEASE, as_user=None).status == 401
    assert admin.post("/required_signoffs/product", RELEASE, as_user="bob").status == 403
    denied = admin.post("/required_signoffs/permissions", RELEASE, as_user="rm")
    assert (denied.status, denied.json["detail"]) == (403, "Permission Denied")
    assert denied.json["exception"] == "rm is not allowed to create new Required Signoffs."
    assert admin.event_count() == before


def test_direct_delete_is_always_refused(admin: AdminClient) -> None:
    before = _quiet(admin)
    for kind in ("product", "permissions"):
        answer = admin.delete(f"/required_signoffs/{kind}", as_user=None)
        assert (answer.status, answer.json["detail"]) == (400, "Signoff Required")
        assert answer.json["exception"] == "Required Signoffs cannot be directly deleted."
    assert admin.event_count() == before


def test_permissions_policies(admin: AdminClient) -> None:
    _holders(admin, "relman", "rm", "rm2")
    row = {"product": "Firefox", "role": "relman", "signoffs_required": 2}
    made = admin.post("/required_signoffs/permissions", row)
    assert made.status == 201, made.text
    listed = admin.get("/required_signoffs/permissions", query={"product": "Firefox"})
    assert listed.json == {"count": 1, "required_signoffs": [{**row, "data_version": 1}]}
    # Granting a Firefox permission is now a guarded change.
    guarded = admin.put("/users/x/permissions/rule", {"options": '{"products": ["Firefox"]}'})
    assert (guarded.status, guarded.json["exception"]) == (400, "No Signoffs given")


def test_revisions(admin: AdminClient) -> None:
    _holders(admin, "relman", "rm")
    admin.service.add_required_signoff("product", RELEASE, "alice")
    query = {"product": "Firefox", "channel": "release", "role": "relman"}
    answer = admin.get("/required_signoffs/product/revisions", query=query, as_user=None)
    assert answer.status == 200, answer.text
    assert answer.json["count"] == 1
    (revision,) = answer.json["required_signoffs"]
    assert {k: revision[k] for k in RELEASE} == RELEASE
    assert revision["data_version"] == 1 and revision["changed_by"] == "alice"
    assert isinstance(revision["change_id"], int) and revision["timestamp"] > 1_600_000_000_000
    page_two = admin.get("/required_signoffs/product/revisions", query={**query, "page": 2})
    assert page_two.json == {"count": 1, "required_signoffs": []}
    unknown = admin.get("/required_signoffs/product/revisions", query={**query, "role": "qa"})
    assert (unknown.status, unknown.json["detail"]) == (
        404,
        "Requested Required Signoff does not exist",
    )
    incomplete = admin.get("/required_signoffs/permissions/revisions", query={"product": "x"})
    assert (incomplete.status, incomplete.json["detail"]) == (
        400,
        "Missing query parameter 'role'",
    )
    # Balrog names the first missing parameter in its order: product, role, channel.
    for given, first_missing in (({}, "product"), ({"product": "Firefox"}, "role")):
        missing = admin.get("/required_signoffs/product/revisions", query=given)
        assert missing.json["detail"] == f"Missing query parameter '{first_missing}'"
    bad_page = admin.get("/required_signoffs/product/revisions", query={**query, "page": 0})
    assert bad_page.status == 400
    assert bad_page.json["detail"].startswith("0 is less than the minimum of 1")


# ------------------------------------------ round 2: Balrog's answers, side by side


def test_too_few_holders_is_reported_before_the_signoff_need(admin: AdminClient) -> None:
    _holders(admin, "relman", "rm")
    _holders(admin, "qa", "qa1", "qa2")
    policy = {"product": "Firefox", "channel": "release", "role": "relman", "signoffs_required": 1}
    assert admin.post("/required_signoffs/product", policy).status == 201
    before = _quiet(admin)
    qa = {**policy, "role": "qa"}
    three = admin.post("/required_signoffs/product", {**qa, "signoffs_required": 3})
    assert three.status == 400
    assert three.json["detail"] == (
        "('Cannot require 3 signoffs for Firefox, release - only 2 users hold the qa role',)"
    )
    two = admin.post("/required_signoffs/product", {**qa, "signoffs_required": 2})
    assert two.json["detail"] == "Signoff Required"
    extra = admin.get("/required_signoffs/permissions/revisions",
                      query={"product": "Firefox", "role": "relman", "channel": "release"})
    assert extra.status == 400 and extra.json["title"] is None
    assert extra.json["detail"] == "Extra query parameter(s) channel not in spec"
    assert admin.event_count() == before
