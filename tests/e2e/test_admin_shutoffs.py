"""``/api/emergency_shutoff``: switching updates off and on over real HTTP, as Balrog does."""

from __future__ import annotations

from tests.e2e.conftest import AdminClient

SHUTOFF = {"product": "Firefox", "channel": "nightly", "comment": "bad build"}


def _quiet(admin: AdminClient, *users: str) -> int:
    for user in ("alice", *users):
        admin.token_for(user)
    return admin.event_count()


def test_create_list_read(admin: AdminClient) -> None:
    made = admin.post("/emergency_shutoff", SHUTOFF)
    assert made.status == 201, made.text
    assert made.json == {**SHUTOFF, "data_version": 1}
    listed = admin.get("/emergency_shutoff", as_user=None)
    assert listed.json == {"count": 1, "shutoffs": [{**SHUTOFF, "data_version": 1}]}
    one = admin.get("/emergency_shutoff/Firefox/nightly", as_user=None)
    assert one.status == 200 and one.json == {**SHUTOFF, "data_version": 1}
    assert one.headers["X-Data-Version"] == "1"
    bare = admin.post("/emergency_shutoff", {"product": "Firefox", "channel": "beta"})
    assert bare.json == {
        "product": "Firefox", "channel": "beta", "comment": None, "data_version": 1
    }


def test_unknown_shutoff_is_404(admin: AdminClient) -> None:
    answer = admin.get("/emergency_shutoff/Firefox/nightly", as_user=None)
    assert answer.status == 404
    assert answer.json["detail"] == "Requested emergency shutoff wasn't found"
    assert answer.json["exception"] == "Requested shutoff does not exist"


def test_create_refusals_change_nothing(admin: AdminClient) -> None:
    admin.service.create_shutoff("Firefox", "nightly", "alice")
    only_thunderbird = {"products": ["Thunderbird"]}
    admin.service.grant_permission("rm", "emergency_shutoff", only_thunderbird, "alice")
    before = _quiet(admin, "rm", "bob")
    again = admin.post("/emergency_shutoff", SHUTOFF)
    assert (again.status, again.json["detail"]) == (400, "Invalid Emergency shutoff data")
    assert again.json["exception"] == "Emergency shutoff for product/channel already exists."
    no_channel = admin.post("/emergency_shutoff", {"product": "Firefox"})
    assert (no_channel.status, no_channel.json["detail"]) == (
        400,
        "'channel' is a required property",
    )
    too_long = admin.post("/emergency_shutoff", {"product": "F" * 16, "channel": "x"})
    assert too_long.status == 400
    assert admin.post("/emergency_shutoff", SHUTOFF, as_user=None).status == 401
    assert admin.post("/emergency_shutoff", SHUTOFF, as_user="bob").status == 400  # exists
    bob = admin.post("/emergency_shutoff", {**SHUTOFF, "channel": "beta"}, as_user="bob")
    assert (bob.status, bob.json["detail"]) == (403, "Permission Denied")
    assert bob.json["exception"] == "bob is not allowed to shut off updates for product Firefox"
    denied = admin.post("/emergency_shutoff", {**SHUTOFF, "channel": "beta"}, as_user="rm")
    assert (denied.status, denied.json["detail"]) == (403, "Permission Denied")
    assert denied.json["exception"] == "rm is not allowed to shut off updates for product Firefox"
    assert admin.event_count() == before


def test_delete(admin: AdminClient) -> None:
    admin.service.create_shutoff("Firefox", "nightly", "alice")
    admin.service.grant_permission("rm", "emergency_shutoff", {"actions": ["create"]}, "alice")
    before = _quiet(admin, "rm")
    no_version = admin.delete("/emergency_shutoff/Firefox/nightly")
    assert no_version.json["detail"] == "Missing query parameter 'data_version'"
    unknown = admin.delete("/emergency_shutoff/Firefox/beta", query={"data_version": 1})
    assert (unknown.status, unknown.json["detail"]) == (404, "Shutoff wasn't found")
    assert unknown.json["exception"] == "Shutoff does not exist"
    stale = admin.delete("/emergency_shutoff/Firefox/nightly", query={"data_version": 2})
    assert (stale.status, stale.json["detail"]) == (400, "OutdatedDataError")
    denied = admin.delete(
        "/emergency_shutoff/Firefox/nightly", query={"data_version": 1}, as_user="rm"
    )
    assert denied.status == 403
    assert denied.json["exception"] == "rm is not allowed to delete shutoffs for product Firefox"
    # Balrog validates the query before its login check: no data_version is a 400 first.
    bare = admin.delete("/emergency_shutoff/Firefox/nightly", as_user=None)
    assert bare.status == 400 and bare.json["detail"] == "Missing query parameter 'data_version'"
    unauthenticated = admin.delete(
        "/emergency_shutoff/Firefox/nightly", query={"data_version": 1}, as_user=None
    )
    assert unauthenticated.status == 401
    assert admin.event_count() == before
    done = admin.delete("/emergency_shutoff/Firefox/nightly", query={"data_version": 1})
    assert (done.status, done.body) == (200, b"")
    assert admin.get("/emergency_shutoff", as_user=None).json == {"count": 0, "shutoffs": []}
    # Created again, its data_version starts over.
    again = admin.post("/emergency_shutoff", SHUTOFF)
    assert again.json["data_version"] == 1


def test_delete_under_a_product_policy_needs_signoff(admin: AdminClient) -> None:
    admin.service.grant_permission("rm", "rule", None, "alice")
    admin.service.grant_role("rm", "relman", "alice")
    admin.service.add_required_signoff(
        "product",
        {"product": "Firefox", "channel": "nightly", "role": "relman", "signoffs_required": 1},
        "alice",
    )
    made = admin.post("/emergency_shutoff", SHUTOFF)  # switching off never waits
    assert made.status == 201
    before = _quiet(admin)
    answer = admin.delete("/emergency_shutoff/Firefox/nightly", query={"data_version": 1})
    assert (answer.status, answer.json["detail"]) == (400, "Signoff Required")
    assert answer.json["exception"] == "No Signoffs given"
    assert admin.event_count() == before
