"""``/api/users``: users, permissions and roles over real HTTP, answered as Balrog does."""

from __future__ import annotations

from typing import Any

from tests.e2e.conftest import AdminClient


def _grant(admin: AdminClient, user: str, permission: str, options: Any = None) -> None:
    admin.service.grant_permission(user, permission, options, "alice")


def _relman_policy(admin: AdminClient) -> None:
    """A permissions policy on Firefox: changing Firefox permissions needs a relman."""
    _grant(admin, "rm", "rule", {"products": ["Firefox"]})
    admin.service.grant_role("rm", "relman", "alice")
    admin.service.add_required_signoff(
        "permissions", {"product": "Firefox", "role": "relman", "signoffs_required": 1}, "alice"
    )


def _quiet(admin: AdminClient, *users: str) -> int:
    """The event count once the users' tokens exist (issuing one is an event)."""
    for user in ("alice", *users):
        admin.token_for(user)
    return admin.event_count()


# ------------------------------------------------------------------ reading


def test_list_users_shows_holders_only(admin: AdminClient) -> None:
    _grant(admin, "rm", "rule", {"products": ["Firefox"], "actions": ["create"]})
    admin.service.grant_role("rm", "relman", "alice")
    answer = admin.get("/users")
    assert answer.status == 200, answer.text
    users = answer.json
    assert users["alice"] == {
        "permissions": {"admin": {"options": None, "data_version": 1}},
        "roles": [],
    }
    assert users["rm"]["roles"] == [{"role": "relman", "data_version": 1}]
    assert users["rm"]["permissions"]["rule"]["options"] == {
        "products": ["Firefox"],
        "actions": ["create"],
    }
    assert "bob" not in users  # a token alone makes nobody a user


def test_list_users_needs_a_token_a_permission_and_view(admin: AdminClient) -> None:
    assert admin.get("/users", as_user=None).status == 401
    # A person (an e-mail identity) Balrog does not know is refused outright ...
    stranger = admin.get("/users", as_user="stranger@example.com")
    assert (stranger.status, stranger.json["detail"]) == (403, "Authorization Required")
    # ... a machine account without permissions gets the route's own refusal.
    refused = admin.get("/users", as_user="bob")
    assert (refused.status, refused.json["detail"]) == (403, "Permission Denied")
    assert refused.json["exception"] == "You are not authorized to view permissions of other users."
    _grant(admin, "rm", "rule")
    denied = admin.get("/users", as_user="rm")
    assert denied.status == 403
    assert denied.json["detail"] == "Permission Denied"
    assert denied.json["exception"] == "You are not authorized to view permissions of other users."


def test_get_user_and_its_permissions(admin: AdminClient) -> None:
    _grant(admin, "rm", "release", {"products": ["Firefox"]})
    admin.service.grant_role("rm", "relman", "alice")
    got = admin.get("/users/rm")
    assert got.status == 200
    assert got.json == {
        "username": "rm",
        "permissions": {"release": {"options": {"products": ["Firefox"]}, "data_version": 1}},
        "roles": {"relman": {"data_version": 1}},
    }
    own = admin.get("/users/rm/permissions", as_user="rm")  # one's own: no view needed
    assert own.status == 200 and list(own.json) == ["release"]
    one = admin.get("/users/rm/permissions/release")
    assert one.json == {"options": {"products": ["Firefox"]}, "data_version": 1}
    missing = admin.get("/users/rm/permissions/rule")
    assert missing.status == 404
    assert missing.json["detail"] == "Requested user permission rule not found for rm"
    assert admin.get("/users/alice", as_user="rm").status == 403
    assert admin.get("/users/alice/permissions/admin", as_user="rm").status == 403
    assert admin.get("/users/rm", as_user=None).status == 401


def test_unknown_users_are_404(admin: AdminClient) -> None:
    admin.token_for("bob")
    for name in ("bob", "nobody"):
        answer = admin.get(f"/users/{name}")
        assert answer.status == 404
        assert answer.json["detail"] == f"No permission found for username {name}"
    assert admin.get("/users/nobody/permissions").json == {}


def test_unknown_permission_name_is_refused_as_connexion_does(admin: AdminClient) -> None:
    before = _quiet(admin)
    answer = admin.put("/users/rm/permissions/fake", {})
    assert answer.status == 400
    assert answer.json["detail"].startswith("'fake' is not one of ['admin', 'emergency_shutoff'")
    assert admin.event_count() == before


# -------------------------------------------------------------- permissions


def test_put_grants_then_updates(admin: AdminClient) -> None:
    made = admin.put("/users/rm/permissions/rule", {"options": '{"products": ["Firefox"]}'})
    assert made.status == 201, made.text
    assert made.json == {"new_data_version": 1}
    changed = admin.put(
        "/users/rm/permissions/rule", {"options": '{"actions": ["modify"]}', "data_version": 1}
    )
    assert (changed.status, changed.json) == (200, {"new_data_version": 2})
    cleared = admin.post("/users/rm/permissions/rule", {"options": "{}", "data_version": 2})
    assert (cleared.status, cleared.json) == (200, {"new_data_version": 3})
    assert admin.get("/users/rm/permissions/rule").json == {"options": None, "data_version": 3}


def test_put_bad_input_changes_nothing(admin: AdminClient) -> None:
    _grant(admin, "rm", "rule")
    before = _quiet(admin)
    no_version = admin.put("/users/rm/permissions/rule", {"options": None})
    assert no_version.status == 400
    assert no_version.json["detail"] == "'data_version' is missing from request body"
    bad_option = admin.put("/users/carol/permissions/admin", {"options": '{"foo": 2}'})
    assert bad_option.status == 400
    assert bad_option.json["detail"] == "('Unknown option \"foo\" for permission \"admin\"',)"
    bad_json = admin.put("/users/carol/permissions/rule", {"options": '{"products":'})
    assert bad_json.status == 400
    assert bad_json.json["detail"].startswith("Not a valid json. Error: Expecting value")
    assert bad_json.json["detail"].endswith("is not a 'JSONStringField'")
    assert admin.event_count() == before


def test_stale_data_version_is_outdated(admin: AdminClient) -> None:
    _grant(admin, "rm", "rule")
    before = _quiet(admin)
    stale = admin.post("/users/rm/permissions/rule", {"options": None, "data_version": 5})
    assert stale.status == 400 and stale.json["detail"] == "OutdatedDataError"
    gone = admin.delete("/users/rm/permissions/rule", query={"data_version": 5})
    assert gone.status == 400 and gone.json["detail"] == "OutdatedDataError"
    assert admin.event_count() == before


def test_post_needs_a_held_permission(admin: AdminClient) -> None:
    answer = admin.post("/users/rm/permissions/rule", {"data_version": 1})
    assert answer.status == 404
    assert answer.json["detail"] == "Requested user permission rule not found for rm"


def test_permission_writes_need_permission(admin: AdminClient) -> None:
    _grant(admin, "rm", "rule")
    _grant(admin, "viewer", "permission", {"actions": ["view"]})
    before = _quiet(admin, "rm", "viewer", "bob")
    assert admin.put("/users/x/permissions/rule", {}, as_user=None).status == 401
    assert admin.put("/users/x/permissions/rule", {}, as_user="bob").status == 403
    other = admin.put("/users/x/permissions/rule", {}, as_user="rm")
    assert other.status == 403
    assert other.json["exception"] == "You are not authorized to view permissions of other users."
    grant = admin.put("/users/x/permissions/rule", {}, as_user="viewer")
    assert grant.status == 403
    assert grant.json["exception"] == "viewer is not allowed to grant permissions"
    revoke = admin.delete("/users/rm/permissions/rule", query={"data_version": 1}, as_user="viewer")
    assert revoke.status == 403
    assert revoke.json["exception"] == "('%s is not allowed to revoke permissions', 'viewer')"
    assert admin.event_count() == before


def test_direct_edit_under_a_permissions_policy_needs_signoff(admin: AdminClient) -> None:
    _relman_policy(admin)
    before = _quiet(admin)
    answer = admin.put("/users/x/permissions/rule", {"options": '{"products": ["Firefox"]}'})
    assert answer.status == 400
    assert answer.json["detail"] == "Signoff Required"
    assert answer.json["exception"] == "No Signoffs given"
    assert admin.event_count() == before


def test_delete_permission(admin: AdminClient) -> None:
    _grant(admin, "rm", "rule")
    _grant(admin, "rm", "release")
    admin.service.grant_role("rm", "qa", "alice")
    before = _quiet(admin)
    missing_version = admin.delete("/users/rm/permissions/rule")
    assert missing_version.status == 400
    assert missing_version.json["detail"] == "Missing query parameter 'data_version'"
    not_held = admin.delete("/users/rm/permissions/admin", query={"data_version": 1})
    assert not_held.status == 404
    assert admin.event_count() == before
    done = admin.delete("/users/rm/permissions/rule", query={"data_version": 1})
    assert (done.status, done.body) == (200, b"")
    assert list(admin.get("/users/rm/permissions").json) == ["release"]
    # The last permission takes the user's roles with it, as in Balrog.
    assert admin.delete("/users/rm/permissions/release", query={"data_version": 1}).status == 200
    assert admin.get("/users/rm").status == 404
    assert "rm" not in admin.get("/users").json


# -------------------------------------------------------------------- roles


def test_grant_and_revoke_role(admin: AdminClient) -> None:
    _grant(admin, "rm", "rule")
    made = admin.put("/users/rm/roles/relman")
    assert (made.status, made.json) == (201, {"new_data_version": 1})
    again = admin.put("/users/rm/roles/relman")
    assert (again.status, again.json) == (200, {"new_data_version": 1})
    assert admin.get("/users/rm").json["roles"] == {"relman": {"data_version": 1}}
    before = _quiet(admin)
    stale = admin.delete("/users/rm/roles/relman", query={"data_version": 2})
    assert stale.status == 400 and stale.json["detail"] == "OutdatedDataError"
    assert admin.event_count() == before
    done = admin.delete("/users/rm/roles/relman", query={"data_version": 1})
    assert done.status == 200
    assert admin.get("/users/rm").json["roles"] == {}


def test_role_refusals(admin: AdminClient) -> None:
    _grant(admin, "rm", "rule")
    before = _quiet(admin, "rm")
    nobody = admin.put("/users/carol/roles/relman")
    assert (nobody.status, nobody.json["detail"]) == (400, "Unknown error")
    assert nobody.json["exception"] == "Cannot grant a role to a user without any permissions"
    denied = admin.put("/users/alice/roles/relman", as_user="rm")
    assert denied.status == 403
    assert denied.json["exception"] == "rm is not allowed to grant user roles"
    missing = admin.delete("/users/rm/roles/relman", query={"data_version": 1})
    assert (missing.status, missing.json["detail"]) == (404, "Role not found")
    assert missing.json["exception"] == "No role 'relman' found for username 'rm'"
    assert admin.put("/users/rm/roles/relman", as_user=None).status == 401
    too_long = admin.put(f"/users/rm/roles/{'r' * 51}")
    assert too_long.status == 400 and "is too long" in too_long.json["detail"]
    assert admin.event_count() == before


def test_revoke_role_that_a_policy_needs(admin: AdminClient) -> None:
    _relman_policy(admin)
    before = _quiet(admin, "rm")
    answer = admin.delete("/users/rm/roles/relman", query={"data_version": 1})
    assert (answer.status, answer.json["detail"]) == (400, "Unknown error")
    assert answer.json["exception"] == (
        "Revoking relman role would make it impossible for Required Signoffs to be fulfilled"
    )
    denied = admin.delete("/users/rm/roles/relman", query={"data_version": 1}, as_user="rm")
    assert denied.status == 403
    assert denied.json["exception"] == "('%s is not allowed to revoke user roles', 'rm')"
    assert admin.event_count() == before


# ------------------------------------------ round 2: Balrog's answers, side by side


def test_request_checks_before_login_and_permission(admin: AdminClient) -> None:
    _grant(admin, "bob", "rule", {"products": ["Firefox"]})
    before = _quiet(admin, "bob", "nobody")
    bad = admin.put("/users/x/permissions/rule", {"options": "{bad"}, as_user=None)
    assert bad.status == 400 and bad.json["detail"].startswith("Not a valid json. Error: ")
    no_version = admin.delete("/users/bob/permissions/rule", as_user="nobody")
    assert no_version.status == 400
    assert no_version.json["detail"] == "Missing query parameter 'data_version'"
    assert admin.event_count() == before


def test_update_under_a_policy_needs_signoff_before_data_version(admin: AdminClient) -> None:
    _grant(admin, "bob", "rule", {"products": ["Firefox"]})
    _relman_policy(admin)
    before = _quiet(admin)
    body = {"options": '{"products": ["Firefox"]}', "data_version": 9}
    stale = admin.post("/users/bob/permissions/rule", body)
    assert stale.json["detail"] == "Signoff Required"  # Balrog: signoffs, then data_version
    assert admin.event_count() == before


def test_permissions_history_shows_no_options_as_null(admin: AdminClient) -> None:
    assert admin.put("/users/qa/permissions/rule", {}).status == 201
    rows = admin.get("/permissions/history").json["Permissions"]["revisions"]
    assert [r["options"] for r in rows if r["username"] == "qa"] == [None]
