"""The admin API's authorization matrix: every write route x every kind of caller.

Each write operation (POST/PUT/DELETE) of the served OpenAPI document has one
entry in ``MATRIX``: how to build a request that should succeed on a store set
up just for it, the Balrog permissions (or role) a user needs for it, and the
status it then answers. Each entry is tried, on its own fresh store, as:

* nobody (no Authorization header): 401, store unchanged;
* ``bob``, a verified identity holding nothing: 403, store unchanged;
* ``mallory``, holding *nearly* what is needed -- the same permission for
  another product, with other actions, or only one of the two permissions a
  route needs: 403, store unchanged (this is what shows the route asks for
  the specific permission, not just for some permission);
* ``carol``, holding exactly what is needed: the success status, and the store
  records the write.

``test_matrix_covers_every_write_route`` fails when a write route exists
without an entry, so a new route cannot skip this matrix. The last tests pin
Balrog's no-ops that answer success without any permission check (an identity
is still required), and its check of an unset on a writable release.

Which permission each route needs is Balrog's (``src/auslib/db.py``, the
``hasPermission`` callers, as listed in ``domain.permissions``):

* a scheduled change (create, modify, revert, cancel) needs the permissions of
  the change it schedules -- ``ScheduledChangeTable.validate`` runs the base
  table's checks as a dry run, and ``delete`` runs them again; enacting needs
  ``scheduled_change``/``enact``; signing off and revoking need a role, no
  permission (``SignoffsTable.insert``/``delete``);
* reading or writing *another* user's permissions needs ``permission``/``view``
  as well as the action (``Permissions.getUserPermissions``, which Balrog's
  permission views and ``grantRole`` call), whereas revoking a role does not
  (``revokeRole`` only checks ``permission``/``delete``);
* a locale upload needs ``release_locale`` *and* ``release`` to modify
  (``addLocaleToRelease`` checks the first, then saves through
  ``Releases.update``, which checks the second);
* required-signoff checks pass no product, so a ``required_signoff`` grant
  restricted to products allows nothing (``hasPermission``: ``None`` is never
  in the list) -- mallory holds exactly that.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from rulelog.api.admin.app import create_admin_app
from rulelog.domain.access.permissions import ACTIONS
from rulelog.projections.log import last_position
from rulelog.services.application import RulelogApp
from tests.e2e.conftest import AdminClient

WHEN = 1_900_000_000_000  # 2030, in Balrog's milliseconds
FX = "Firefox"
OTHER = "Thunderbird"  # the product a near-miss grant names instead
REL = "Firefox-1"

Grant = tuple[str, str, dict[str, Any] | None]  # ("perm", name, options) | ("role", name, None)


def on_fx(name: str, *actions: str) -> tuple[Grant]:
    """The one grant of ``name`` (with these actions) on Firefox."""
    return (perm(name, *actions, products=[FX]),)


def perm(name: str, *actions: str, products: list[str] | None = None) -> Grant:
    options: dict[str, Any] = {}
    if actions:
        options["actions"] = list(actions)
    if products:
        options["products"] = products
    return ("perm", name, options or None)


def role(name: str) -> Grant:
    return ("role", name, None)


#: Balrog grants roles only to users holding some permission (``grantRole``):
#: signoff cases give carol this one, which allows none of the routes tried.
FILLER = perm("release_read_only", "set", products=["Unrelated"])


@dataclass(frozen=True)
class Call:
    """One concrete request: the path (with its parameters filled), body and query."""

    path: str
    body: Any = None
    query: dict[str, Any] | None = None


@dataclass(frozen=True)
class Case:
    """One write operation of the matrix (``op`` as the OpenAPI document names it)."""

    op: str
    setup: Callable[[AdminClient], Call]
    grants: tuple[Grant, ...]
    status: int
    #: Grant sets that must not be enough (default: ``near_misses(grants)``).
    near: tuple[tuple[Grant, ...], ...] | None = None
    anonymous: int = 401  # the answer without a token
    denied: int = 403  # the answer to bob (a token, no permission)
    writes: bool = True  # whether carol's request records events

    @property
    def method(self) -> str:
        return self.op.split(" ", 1)[0]


def near_misses(grants: tuple[Grant, ...]) -> tuple[tuple[Grant, ...], ...]:
    """The grants narrowed the ways Balrog's checks tell apart.

    By product (each product list names another product; a grant without
    options gets ``products`` -- which refuses the product-less checks), and by
    action (each ``actions`` list holds the *other* actions of the permission),
    where such a narrowing exists. Roles become another role.
    """
    by_product: list[Grant] = []
    by_action: list[Grant] = []
    narrowed_product = narrowed_action = False
    for kind, name, options in grants:
        if kind == "role":
            by_product.append(role("qa"))
            by_action.append(role("qa"))
            narrowed_product = narrowed_action = True
            continue
        opts = dict(options or {})
        if opts.get("products"):
            by_product.append((kind, name, {**opts, "products": [OTHER]}))
            narrowed_product = True
        elif not opts:
            by_product.append((kind, name, {"products": [FX]}))
            narrowed_product = True
        else:
            by_product.append((kind, name, opts))
        others = sorted(ACTIONS.get(name, frozenset()) - set(opts.get("actions") or ()))
        if opts.get("actions") and others:
            by_action.append((kind, name, {**opts, "actions": others}))
            narrowed_action = True
        else:
            by_action.append((kind, name, opts or None))
    found = []
    if narrowed_product:
        found.append(tuple(by_product))
    if narrowed_action and by_action != by_product:
        found.append(tuple(by_action))
    return tuple(found)


def hold(admin: AdminClient, username: str, grants: tuple[Grant, ...]) -> None:
    """Grant ``username`` these permissions, then these roles (as alice, an admin)."""
    service = admin.service
    for kind, name, options in grants:
        if kind == "perm":
            service.grant_permission(username, name, options, "alice")
    for kind, name, _ in grants:
        if kind == "role":
            service.grant_role(username, name, "alice")


# ------------------------------------------------------------------ state


def blob(name: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "schema_version": 1, "hashFunction": "sha512", **extra}


def make_release(admin: AdminClient, name: str = REL) -> None:
    admin.service.create_release(name, FX, blob(name), "alice")


def make_rule(admin: AdminClient, **fields: Any) -> int:
    make_release(admin)
    row = {
        "mapping": REL,
        "backgroundRate": 100,
        "priority": 5,
        "update_type": "minor",
        "product": FX,
        "channel": "beta",
        **fields,
    }
    return admin.service.create_rule(row, "alice").rule_id


def relman_holder(admin: AdminClient) -> None:
    """dave holds the relman role (policies need someone who can sign them)."""
    hold(admin, "dave", (FILLER, role("relman")))


def ok(answer: Any, status: int = 200) -> Any:
    assert answer.status == status, answer.text
    return answer.json if answer.body else None


# ------------------------------------------------------- direct writes

#: The rule the create cases send, directly and scheduled.
NIGHTLY_RULE = {
    "mapping": REL,
    "backgroundRate": 100,
    "priority": 5,
    "update_type": "minor",
    "product": FX,
    "channel": "nightly",
}


def rule_create(admin: AdminClient) -> Call:
    make_release(admin)
    return Call("/rules", NIGHTLY_RULE)


def rule_update(admin: AdminClient) -> Call:
    rule_id = make_rule(admin)
    return Call(f"/rules/{rule_id}", {"priority": 7, "data_version": 1})


def rule_update_by_alias(admin: AdminClient) -> Call:
    make_rule(admin, alias="fx-beta")
    return Call("/rules/fx-beta", {"priority": 7, "data_version": 1})


def rule_delete(admin: AdminClient) -> Call:
    rule_id = make_rule(admin)
    return Call(f"/rules/{rule_id}", query={"data_version": 1})


def rule_revert(admin: AdminClient) -> Call:
    rule_id = make_rule(admin)
    admin.service.update_rule(rule_id, 1, {"priority": 6}, "alice")
    oldest = ok(admin.get(f"/rules/{rule_id}/revisions"))["rules"][-1]
    return Call(f"/rules/{rule_id}/revisions", {"change_id": oldest["change_id"]})


def release_create(admin: AdminClient) -> Call:
    return Call("/releases", {"name": REL, "product": FX, "blob": json.dumps(blob(REL))})


def release_replace(admin: AdminClient) -> Call:
    make_release(admin)
    body = {
        "name": REL,
        "product": FX,
        "blob": json.dumps(blob(REL, detailsUrl="x")),
        "data_version": 1,
    }
    return Call(f"/releases/{REL}", body)


def release_merge(admin: AdminClient) -> Call:
    make_release(admin)
    body = {
        "product": FX,
        "data": json.dumps({"detailsUrl": "x"}),
        "schema_version": 1,
        "data_version": 1,
    }
    return Call(f"/releases/{REL}", body)


def release_delete(admin: AdminClient) -> Call:
    make_release(admin)
    return Call(f"/releases/{REL}", query={"data_version": 1})


def release_locale(admin: AdminClient) -> Call:
    make_release(admin)
    build = {"complete": {"filesize": 1, "from": "*", "hashValue": "abc"}}
    body = {"product": FX, "data": json.dumps(build), "schema_version": 1, "data_version": 1}
    return Call(f"/releases/{REL}/builds/Linux_x86_64-gcc3/de", body)


def release_read_only(admin: AdminClient) -> Call:
    make_release(admin)
    return Call(f"/releases/{REL}/read_only", {"read_only": True, "data_version": 1})


def release_revert(admin: AdminClient) -> Call:
    make_release(admin)
    admin.service.replace_release_blob(REL, 1, blob(REL, detailsUrl="x"), "alice")
    oldest = ok(admin.get(f"/releases/{REL}/revisions"))["revisions"][-1]
    return Call(f"/releases/{REL}/revisions", {"change_id": oldest["change_id"]})


def v2_locale(admin: AdminClient) -> Call:
    make_release(admin)
    build = {"complete": {"filesize": 1, "from": "*", "hashValue": "abc"}}
    parts = {"platforms": {"Linux_x86_64-gcc3": {"locales": {"de": build}}}}
    return Call(f"/v2/releases/{REL}", {"blob": parts, "old_data_versions": {}})


def v2_replace(admin: AdminClient) -> Call:
    make_release(admin)
    body = {"blob": blob(REL, detailsUrl="x"), "old_data_versions": {".": 1}, "product": FX}
    return Call(f"/v2/releases/{REL}", body)


def v2_delete(admin: AdminClient) -> Call:
    make_release(admin)
    return Call(f"/v2/releases/{REL}")


def v2_read_only(admin: AdminClient) -> Call:
    make_release(admin)
    return Call(f"/v2/releases/{REL}/read_only", {"read_only": True, "old_data_version": 1})


def v2_pinnable(admin: AdminClient) -> Call:
    make_release(admin)
    return Call(
        f"/v2/releases/{REL}/pinnable", {"product": FX, "channel": "nightly", "version": "1."}
    )


def v2_scheduled(admin: AdminClient) -> None:
    make_release(admin)
    row = {"name": REL, "product": FX, "data": blob(REL, detailsUrl="x")}
    admin.service.schedule_change("releases", "update", row, {"when": WHEN}, "alice", 1)


def v2_sign_off(admin: AdminClient) -> Call:
    v2_scheduled(admin)
    return Call(f"/v2/releases/{REL}/signoff", {"role": "relman"})


def v2_revoke(admin: AdminClient) -> Call:
    v2_scheduled(admin)
    return Call(f"/v2/releases/{REL}/signoff")


def v2_enact(admin: AdminClient) -> Call:
    v2_scheduled(admin)
    return Call(f"/v2/releases/{REL}/enact")


def shutoff_create(admin: AdminClient) -> Call:
    return Call("/emergency_shutoff", {"product": FX, "channel": "nightly"})


def shutoff_exists(admin: AdminClient) -> None:
    admin.service.create_shutoff(FX, "nightly", "alice")


def shutoff_delete(admin: AdminClient) -> Call:
    shutoff_exists(admin)
    return Call(f"/emergency_shutoff/{FX}/nightly", query={"data_version": 1})


EXPECTATION = {
    "name": "fx-de",
    "url": "/update/6/Firefox/119.0/1/Linux_x86_64-gcc3/de/release/a/b/c/d/update.xml",
    "expect": {"no_update": True},
}


def expectation_create(admin: AdminClient) -> Call:
    return Call("/expectations", EXPECTATION)


def expectation_change(admin: AdminClient) -> Call:
    admin.service.add_expectation(EXPECTATION, "alice")
    return Call("/expectations/fx-de", {**EXPECTATION, "expect": {"rule_id": 1}})


def expectation_remove(admin: AdminClient) -> Call:
    admin.service.add_expectation(EXPECTATION, "alice")
    return Call("/expectations/fx-de", query={"reason": "gone"})


def product_policy_create(admin: AdminClient) -> Call:
    relman_holder(admin)
    body = {"product": FX, "channel": "release", "role": "relman", "signoffs_required": 1}
    return Call("/required_signoffs/product", body)


def permissions_policy_create(admin: AdminClient) -> Call:
    relman_holder(admin)
    body = {"product": FX, "role": "relman", "signoffs_required": 1}
    return Call("/required_signoffs/permissions", body)


def policy_delete(kind: str) -> Callable[[AdminClient], Call]:
    def setup(admin: AdminClient) -> Call:
        return Call(f"/required_signoffs/{kind}")

    return setup


def permission_grant(admin: AdminClient) -> Call:
    return Call("/users/erin/permissions/rule", {"options": json.dumps({"products": [FX]})})


def erin_holds_rule(admin: AdminClient) -> None:
    hold(admin, "erin", on_fx("rule"))


def permission_update(admin: AdminClient) -> Call:
    erin_holds_rule(admin)
    body = {"options": json.dumps({"products": [FX, OTHER]}), "data_version": 1}
    return Call("/users/erin/permissions/rule", body)


def permission_revoke(admin: AdminClient) -> Call:
    erin_holds_rule(admin)
    return Call("/users/erin/permissions/rule", query={"data_version": 1})


def role_grant(admin: AdminClient) -> Call:
    erin_holds_rule(admin)
    return Call("/users/erin/roles/relman")


def role_revoke(admin: AdminClient) -> Call:
    erin_holds_rule(admin)
    admin.service.grant_role("erin", "relman", "alice")
    return Call("/users/erin/roles/relman", query={"data_version": 1})


def restore(admin: AdminClient) -> Call:
    rule_id = make_rule(admin)
    before = last_position(admin.service)
    admin.service.update_rule(rule_id, 1, {"priority": 9}, "alice")
    return Call("/timeline/restore", {"channel": "beta", "to": f"position:{before}"})


def impact_proposal(admin: AdminClient) -> Call:
    """A what-if: validated, replayed on the (empty) sample, nothing written."""
    make_release(admin)
    row = {"product": FX, "channel": "release", "priority": 10, "backgroundRate": 100,
           "update_type": "minor", "mapping": REL}  # fmt: skip
    return Call("/impact", {"kind": "rules", "change_type": "insert", "row": row})


def uptake(admin: AdminClient) -> Call:
    return Call("/uptake", {"product": FX, "channel": "release", "percent": 50})


# ----------------------------------------------------- scheduled changes


@dataclass(frozen=True)
class Kind:
    """A kind of scheduled change: a change to schedule and what scheduling it needs.

    An insert, except for shutoffs: Balrog schedules only their deletion
    (``change_type`` is ``delete`` in its schema for them).
    """

    name: str
    prepare: Callable[[AdminClient], None]
    fields: dict[str, Any]
    grants: tuple[Grant, ...]
    change_type: str = "insert"

    def body(self) -> dict[str, Any]:
        return {"change_type": self.change_type, "when": WHEN, **self.fields}


def nothing(admin: AdminClient) -> None:
    return None


KINDS = (
    Kind(
        "rules",
        make_release,
        NIGHTLY_RULE,
        on_fx("rule", "create"),
    ),
    Kind(
        "releases",
        nothing,
        {"name": "Firefox-2", "product": FX, "data": json.dumps(blob("Firefox-2"))},
        on_fx("release", "create"),
    ),
    Kind(
        "emergency_shutoff",
        shutoff_exists,
        {"product": FX, "channel": "nightly", "data_version": 1},
        on_fx("emergency_shutoff", "delete"),
        change_type="delete",
    ),
    Kind(
        "pinnable_releases",
        make_release,
        {"product": FX, "channel": "nightly", "version": "1.", "mapping": REL},
        on_fx("pinnable_release"),
    ),
    Kind(
        "required_signoffs/product",
        relman_holder,
        {"product": FX, "channel": "nightly", "role": "relman", "signoffs_required": 1},
        (perm("required_signoff"),),
    ),
    Kind(
        "required_signoffs/permissions",
        relman_holder,
        {"product": FX, "role": "relman", "signoffs_required": 1},
        (perm("required_signoff"),),
    ),
    Kind(
        "permissions",
        nothing,
        {"permission": "release", "username": "erin", "options": json.dumps({"products": [FX]})},
        (perm("permission", "create"),),
    ),
)


def schedule(admin: AdminClient, kind: Kind) -> int:
    """alice schedules the kind's change; its sc_id."""
    kind.prepare(admin)
    return ok(admin.post(f"/scheduled_changes/{kind.name}", kind.body()))["sc_id"]


def sc_create(kind: Kind) -> Callable[[AdminClient], Call]:
    def setup(admin: AdminClient) -> Call:
        kind.prepare(admin)
        return Call(f"/scheduled_changes/{kind.name}", kind.body())

    return setup


def sc_modify(kind: Kind) -> Callable[[AdminClient], Call]:
    def setup(admin: AdminClient) -> Call:
        sc_id = schedule(admin, kind)
        body = {"when": WHEN + 60_000, "sc_data_version": 1}
        return Call(f"/scheduled_changes/{kind.name}/{sc_id}", body)

    return setup


def sc_cancel(kind: Kind) -> Callable[[AdminClient], Call]:
    def setup(admin: AdminClient) -> Call:
        sc_id = schedule(admin, kind)
        return Call(f"/scheduled_changes/{kind.name}/{sc_id}", query={"data_version": 1})

    return setup


def sc_revert(kind: Kind) -> Callable[[AdminClient], Call]:
    def setup(admin: AdminClient) -> Call:
        sc_id = schedule(admin, kind)
        path = f"/scheduled_changes/{kind.name}/{sc_id}"
        ok(admin.post(path, {"when": WHEN + 60_000, "sc_data_version": 1}))
        oldest = ok(admin.get(f"{path}/revisions"))["revisions"][-1]
        return Call(f"{path}/revisions", {"change_id": oldest["change_id"]})

    return setup


def sc_sign_off(kind: Kind) -> Callable[[AdminClient], Call]:
    def setup(admin: AdminClient) -> Call:
        sc_id = schedule(admin, kind)
        return Call(f"/scheduled_changes/{kind.name}/{sc_id}/signoffs", {"role": "relman"})

    return setup


def sc_revoke(kind: Kind) -> Callable[[AdminClient], Call]:
    """carol revokes dave's signoff (Balrog: a holder of its role, or an admin, may)."""

    def setup(admin: AdminClient) -> Call:
        sc_id = schedule(admin, kind)
        if kind.prepare is not relman_holder:
            relman_holder(admin)
        admin.service.sign_off(kind.name, sc_id, "relman", "dave")
        path = f"/scheduled_changes/{kind.name}/{sc_id}/signoffs"
        return Call(path, query={"username": "dave"})

    return setup


def sc_enact(kind: Kind) -> Callable[[AdminClient], Call]:
    def setup(admin: AdminClient) -> Call:
        sc_id = schedule(admin, kind)
        return Call(f"/scheduled_changes/{kind.name}/{sc_id}/enact")

    return setup


SIGNER = (FILLER, role("relman"))
ENACT = (perm("scheduled_change", "enact"),)


def scheduled_cases(kind: Kind) -> list[Case]:
    base = f"/scheduled_changes/{kind.name}"
    one = f"{base}/{{sc_id}}"
    # Balrog's spec has no revisions of a scheduled shutoff (404 there, as here).
    revert = (
        []
        if kind.name == "emergency_shutoff"
        else [Case(f"POST {one}/revisions", sc_revert(kind), kind.grants, 200)]
    )
    return [
        Case(f"POST {base}", sc_create(kind), kind.grants, 200),
        # Modifying, reverting and cancelling re-run the scheduled change's checks.
        Case(f"POST {one}", sc_modify(kind), kind.grants, 200),
        Case(f"DELETE {one}", sc_cancel(kind), kind.grants, 200),
        *revert,
        Case(f"POST {one}/signoffs", sc_sign_off(kind), SIGNER, 200),
        Case(f"DELETE {one}/signoffs", sc_revoke(kind), SIGNER, 200),
        # scheduled_change has one action: the near miss is another permission in full.
        Case(f"POST {one}/enact", sc_enact(kind), ENACT, 200, near=((perm(kind.grants[0][1]),),)),
    ]


# ------------------------------------------------------------------ matrix

RULE_CREATE = on_fx("rule", "create")
RULE_MODIFY = on_fx("rule", "modify")
RELEASE_MODIFY = on_fx("release", "modify")
READ_ONLY_SET = on_fx("release_read_only", "set")
READ_ONLY_UNSET = on_fx("release_read_only", "unset")
LOCALE = (perm("release_locale", "modify", products=[FX]), *RELEASE_MODIFY)


def on_others(action: str) -> tuple[tuple[Grant, ...], tuple[tuple[Grant, ...], ...]]:
    """What acting on another user's permissions needs (the action and view), and
    the near misses: the narrowed grant, the action without view, view alone."""
    needed = (perm("permission", action, "view"),)
    near = (*near_misses(needed), (perm("permission", action),), (perm("permission", "view"),))
    return needed, near


GRANT, GRANT_NEAR = on_others("create")
MODIFY, MODIFY_NEAR = on_others("modify")
REVOKE, REVOKE_NEAR = on_others("delete")

MATRIX: list[Case] = [
    Case("POST /rules", rule_create, RULE_CREATE, 200),
    Case("PUT /rules/{id_or_alias}", rule_update, RULE_MODIFY, 200),
    Case("POST /rules/{id_or_alias}", rule_update_by_alias, RULE_MODIFY, 200),
    Case("DELETE /rules/{id_or_alias}", rule_delete, on_fx("rule", "delete"), 200),
    Case("POST /rules/{rule_id}/revisions", rule_revert, RULE_MODIFY, 200),
    Case("POST /releases", release_create, on_fx("release", "create"), 201),
    Case("PUT /releases/{release}", release_replace, RELEASE_MODIFY, 200),
    Case("POST /releases/{release}", release_merge, RELEASE_MODIFY, 200),
    Case("DELETE /releases/{release}", release_delete, on_fx("release", "delete"), 200),
    Case(
        "PUT /releases/{release}/builds/{platform}/{locale}",
        release_locale,
        LOCALE,
        201,  # a new locale
        near=(*near_misses(LOCALE), LOCALE[:1], LOCALE[1:]),
    ),
    Case("PUT /releases/{release}/read_only", release_read_only, READ_ONLY_SET, 201),
    Case("POST /releases/{release}/revisions", release_revert, RELEASE_MODIFY, 200),
    *[case for kind in KINDS for case in scheduled_cases(kind)],
    # Balrog's admin API v2 (views/releases_v2.py): the same permissions as v1's.
    Case("POST /v2/releases/{name}", v2_locale, RELEASE_MODIFY, 200),
    Case("PUT /v2/releases/{name}", v2_replace, RELEASE_MODIFY, 200),
    Case("DELETE /v2/releases/{name}", v2_delete, on_fx("release", "delete"), 200),
    # Balrog's v2 asks release_read_only/"unset" to lock (and "set" to unlock).
    Case("PUT /v2/releases/{name}/read_only", v2_read_only, READ_ONLY_UNSET, 200),
    Case("PUT /v2/releases/{name}/pinnable", v2_pinnable, on_fx("pinnable_release"), 200),
    Case("PUT /v2/releases/{name}/signoff", v2_sign_off, SIGNER, 200),
    # Revoking one's own signoff where there is none is a no-op Balrog does not check.
    Case(
        "DELETE /v2/releases/{name}/signoff",
        v2_revoke,
        SIGNER,
        200,
        near=(),
        denied=200,
        writes=False,
    ),
    Case("POST /v2/releases/{name}/enact", v2_enact, ENACT, 200, near=((perm("release"),),)),
    Case("POST /emergency_shutoff", shutoff_create, on_fx("emergency_shutoff", "create"), 201),
    Case(
        "DELETE /emergency_shutoff/{product}/{channel}",
        shutoff_delete,
        on_fx("emergency_shutoff", "delete"),
        200,
    ),
    # Expectations are governed by the rule permission of their product.
    Case("POST /expectations", expectation_create, on_fx("rule", "create"), 201),
    Case("PUT /expectations/{name}", expectation_change, on_fx("rule", "modify"), 200),
    Case("DELETE /expectations/{name}", expectation_remove, on_fx("rule", "delete"), 200),
    Case(
        "POST /required_signoffs/product", product_policy_create, (perm("required_signoff"),), 201
    ),
    Case(
        "POST /required_signoffs/permissions",
        permissions_policy_create,
        (perm("required_signoff"),),
        201,
    ),
    # Balrog refuses these to everyone, before and without any login
    # (views/required_signoffs.py ``product_delete``/``permissions_delete`` raise
    # SignoffRequiredError "cannot be directly deleted"; no @requirelogin): a
    # policy goes only through a scheduled change. Nothing to grant, nothing written.
    *[
        Case(
            f"DELETE /required_signoffs/{kind}",
            policy_delete(kind),
            (),
            400,
            near=(),
            anonymous=400,
            denied=400,
            writes=False,
        )
        for kind in ("product", "permissions")
    ],
    Case(
        "PUT /users/{username}/permissions/{permission}",
        permission_grant,
        GRANT,
        201,  # granted (200 when it updates a held one)
        near=GRANT_NEAR,
    ),
    Case(
        "POST /users/{username}/permissions/{permission}",
        permission_update,
        MODIFY,
        200,
        near=MODIFY_NEAR,
    ),
    Case(
        "DELETE /users/{username}/permissions/{permission}",
        permission_revoke,
        REVOKE,
        200,
        near=REVOKE_NEAR,
    ),
    # grantRole checks permission/create, then reads the grantee's permissions (view).
    Case("PUT /users/{username}/roles/{role}", role_grant, GRANT, 201, near=GRANT_NEAR),
    # revokeRole checks permission/delete only (it reads roles, not permissions).
    Case(
        "DELETE /users/{username}/roles/{role}", role_revoke, (perm("permission", "delete"),), 200
    ),
    # rulelog's own writes: a restore schedules rule updates (the rule checks of
    # each), and an uptake report may make changes due, so it needs what enacting needs.
    Case("POST /timeline/restore", restore, RULE_MODIFY, 200),
    Case("POST /uptake", uptake, ENACT, 200, near=((perm("rule"),),)),
    # Asking what a change would do needs an identity, not the change's permission.
    Case("POST /impact", impact_proposal, (), 200, near=(), denied=200, writes=False),
]


# ------------------------------------------------------------------ tests


def write_operations() -> set[str]:
    """Every POST/PUT/DELETE of the OpenAPI document, as "METHOD /path" (no ``/api``)."""
    app = create_admin_app(RulelogApp(env={"PERSISTENCE_MODULE": "eventsourcing.popo"}))
    spec = app.openapi()
    found = set()
    for path, operations in spec["paths"].items():
        for method in operations:
            if method in ("post", "put", "delete", "patch"):
                found.add(f"{method.upper()} {path.removeprefix('/api')}")
    return found


def test_matrix_covers_every_write_route() -> None:
    ops = [case.op for case in MATRIX]
    assert len(ops) == len(set(ops)), "an operation is listed twice"
    served = write_operations()
    assert not served - set(ops), f"write routes without a matrix entry: {served - set(ops)}"
    assert not set(ops) - served, f"matrix entries for no route: {set(ops) - served}"


def send(admin: AdminClient, case: Case, call: Call, user: str | None) -> Any:
    if case.method == "DELETE":
        return admin.delete(call.path, query=call.query, as_user=user)
    return admin.request(
        case.method, call.path, json_body=call.body, query=call.query, as_user=user
    )


@pytest.mark.parametrize("case", MATRIX, ids=[case.op for case in MATRIX])
def test_write_route_authorization(admin: AdminClient, case: Case) -> None:
    call = case.setup(admin)
    near = near_misses(case.grants) if case.near is None else case.near
    hold(admin, "carol", case.grants)
    for user in ("alice", "bob", "carol"):
        admin.token_for(user)  # issuing a token is an event: done before counting
    before = admin.event_count()

    nobody = send(admin, case, call, None)
    assert nobody.status == case.anonymous, nobody.text
    bob = send(admin, case, call, "bob")
    assert bob.status == case.denied, bob.text
    assert admin.event_count() == before

    for index, grants in enumerate(near):
        # Each near miss is its own user (grants and a token are events: recount).
        mallory = f"mallory{index}"
        hold(admin, mallory, grants)
        admin.token_for(mallory)
        before = admin.event_count()
        answer = send(admin, case, call, mallory)
        assert answer.status == 403, (grants, answer.text)
        assert answer.json["detail"] == "Permission Denied", answer.json
        assert admin.event_count() == before, grants

    done = send(admin, case, call, "carol")
    assert done.status == case.status, done.text
    if case.writes:
        assert admin.event_count() > before
    else:
        assert admin.event_count() == before


# ------------------------------------------------- Balrog's unchecked no-ops
#
# Where Balrog finds nothing to do it answers success before any permission
# check (an identity is still required): these are its answers, kept because
# its clients rely on them being idempotent. mallory holds only FILLER.


def role_already_held(admin: AdminClient) -> Call:
    """views/permissions.py ``grant_role``: a role already held answers 200 first."""
    role_revoke(admin)
    return Call("/users/erin/roles/relman")


def already_read_only(admin: AdminClient) -> Call:
    """views/releases.py ``update_read_only``: setting a read-only release read-only
    calls nothing (so checks nothing) and answers 201."""
    make_release(admin)
    admin.service.set_release_read_only(REL, 1, True, "alice")
    return Call(f"/releases/{REL}/read_only", {"read_only": True, "data_version": 2})


def no_signoff_to_revoke(admin: AdminClient) -> Call:
    """views/scheduled_changes.py ``delete_signoffs_scheduled_change``: no signoff by
    that user answers 200 ``{"error": ...}`` before ``SignoffsTable.delete`` checks roles."""
    sc_id = schedule(admin, KINDS[0])
    return Call(f"/scheduled_changes/rules/{sc_id}/signoffs", query={"username": "dave"})


NO_OPS = [
    ("PUT", role_already_held, 200, {"new_data_version": 1}),
    ("PUT", already_read_only, 201, {"new_data_version": 2}),
    ("DELETE", no_signoff_to_revoke, 200, {"error": "mallory has no signoff to revoke"}),
]


@pytest.mark.parametrize(
    ("method", "setup", "status", "answer"), NO_OPS, ids=[op[1].__name__ for op in NO_OPS]
)
def test_balrog_no_ops_answer_without_a_permission(
    admin: AdminClient,
    method: str,
    setup: Callable[[AdminClient], Call],
    status: int,
    answer: dict[str, Any],
) -> None:
    call = setup(admin)
    hold(admin, "mallory", (FILLER,))
    admin.token_for("mallory")
    case = Case(f"{method} -", setup, (), status)
    before = admin.event_count()
    assert send(admin, case, call, None).status == 401
    done = send(admin, case, call, "mallory")
    assert (done.status, done.json) == (status, answer)
    assert admin.event_count() == before


def test_unsetting_read_only_is_checked_even_on_a_writable_release(admin: AdminClient) -> None:
    """Balrog calls ``change_readonly`` (and so checks release_read_only/unset, and
    bumps data_version) whenever ``read_only`` is false, even if it already is."""
    make_release(admin)
    hold(admin, "mallory", on_fx("release_read_only", "set"))
    hold(admin, "carol", on_fx("release_read_only", "unset"))
    for user in ("mallory", "carol"):
        admin.token_for(user)
    body = {"read_only": False, "data_version": 1}
    before = admin.event_count()
    refused = admin.put(f"/releases/{REL}/read_only", body, as_user="mallory")
    assert refused.status == 403 and "read write" in refused.json["exception"]
    assert admin.event_count() == before
    done = admin.put(f"/releases/{REL}/read_only", body, as_user="carol")
    assert (done.status, done.json) == (201, {"new_data_version": 2})
    assert admin.event_count() > before
