"""Balrog's permission rules (domain.permissions), table-driven.

Expected values come from reading Balrog's ``db.py`` (``Permissions`` and the
``hasPermission`` callers); the comments name the quirk a row pins down.
"""

from __future__ import annotations

from typing import Any

import pytest

from rulelog.domain.access.permissions import (
    ACTIONS,
    PERMISSIONS,
    REQUIRED_PERMISSION,
    UNSET,
    check_role_grant,
    checks_for,
    is_allowed,
    require,
    require_change,
    validate_grant,
)
from rulelog.domain.errors import Invalid, PermissionDenied

BALROG_ALL_PERMISSIONS = {
    "admin": ["products"],
    "emergency_shutoff": ["actions", "products"],
    "release": ["actions", "products"],
    "release_locale": ["actions", "products"],
    "release_read_only": ["actions", "products"],
    "rule": ["actions", "products"],
    "pinnable_release": ["products"],
    "permission": ["actions"],
    "required_signoff": ["products"],
    "scheduled_change": ["actions"],
}


def test_permissions_are_balrogs() -> None:
    assert {k: sorted(v) for k, v in PERMISSIONS.items()} == BALROG_ALL_PERMISSIONS


def test_actions_only_for_permissions_taking_them() -> None:
    assert set(ACTIONS) == {p for p, opts in PERMISSIONS.items() if "actions" in opts}


# --- is_allowed: every permission and option, allowed and denied -------------


def _action_of(permission: str) -> str:
    """An action Balrog checks for ``permission``."""
    return next(
        c.action for cs in REQUIRED_PERMISSION.values() for c in cs if c.permission == permission
    )


def _other_action(permission: str) -> str:
    return next(
        a
        for a in ("create", "modify", "delete", "set", "unset", "enact", "view")
        if a != _action_of(permission)
    )


def _every_permission_and_option() -> list[Any]:
    """(held, permission, action, product, expected) per permission and option."""
    cases: list[Any] = []

    def case(held: Any, perm: str, action: str, product: str | None, ok: bool, tag: str) -> None:
        cases.append(pytest.param(held, perm, action, product, ok, id=tag))

    for perm, options in PERMISSIONS.items():
        action = "modify" if perm == "admin" else _action_of(perm)
        # Held without options: any action, any product.
        case({perm: None}, perm, action, "Firefox", True, f"{perm}-no-options-allowed")
        if perm != "admin":  # holding one permission gives nothing else
            other = "release" if perm == "rule" else "rule"
            case({perm: None}, other, "create", "Firefox", False, f"{perm}-other-denied")
        if "actions" in options:
            held = {perm: {"actions": [action]}}
            case(held, perm, action, "Firefox", True, f"{perm}-actions-allowed")
            case(held, perm, _other_action(perm), "Firefox", False, f"{perm}-actions-denied")
        if "products" in options:
            held = {perm: {"products": ["Firefox"]}}
            target = "rule" if perm == "admin" else perm
            case(held, target, action, "Firefox", True, f"{perm}-products-allowed")
            case(held, target, action, "Thunderbird", False, f"{perm}-products-denied")
            case(held, target, action, None, False, f"{perm}-products-no-product-denied")
    return cases


@pytest.mark.parametrize(
    ("held", "permission", "action", "product", "expected"), _every_permission_and_option()
)
def test_is_allowed_every_permission_and_option(
    held: dict[str, Any], permission: str, action: str, product: str | None, expected: bool
) -> None:
    assert is_allowed(held, permission, action, product) is expected


def by_id(cases: dict[str, tuple[Any, ...]]) -> list[Any]:
    """Cases named by their test ids, one line each where they fit."""
    return [pytest.param(*case, id=tag) for tag, case in cases.items()]


FIREFOX_ADMIN = {"admin": {"products": ["Firefox"]}}
CREATES_FIREFOX_RULES = {"rule": {"actions": ["create"], "products": ["Firefox"]}}


#: test id -> (held, permission, action, product, expected)
IS_ALLOWED = {
    "nothing-held": ({}, "rule", "create", "Firefox", False),
    "admin-all": ({"admin": None}, "permission", "create", None, True),
    "admin-empty": ({"admin": {}}, "scheduled_change", "enact", None, True),
    "admin-empty-products-list-is-unrestricted":
        ({"admin": {"products": []}}, "rule", "delete", "GMP", True),
    "admin-allows-even-unknown": ({"admin": None}, "no_such_permission", "x", None, True),
    # A product-scoped admin is refused product-less checks...
    "scoped-admin-cannot-grant": (FIREFOX_ADMIN, "permission", "create", None, False),
    "scoped-admin-cannot-enact": (FIREFOX_ADMIN, "scheduled_change", "enact", None, False),
    # ...and admin decides alone: an unrestricted rule permission does not help.
    "scoped-admin-shadows-specific-permission":
        ({**FIREFOX_ADMIN, "rule": None}, "rule", "create", "GMP", False),
    "scoped-admin-shadows-permission":
        ({**FIREFOX_ADMIN, "permission": None}, "permission", "create", None, False),
    "actions-and-products-allowed": (CREATES_FIREFOX_RULES, "rule", "create", "Firefox", True),
    "actions-and-products-wrong-action":
        (CREATES_FIREFOX_RULES, "rule", "modify", "Firefox", False),
    "actions-and-products-wrong-product":
        (CREATES_FIREFOX_RULES, "rule", "create", "GMP", False),
    "empty-lists-restrict-nothing":
        ({"rule": {"actions": [], "products": []}}, "rule", "delete", None, True),
    "rule-for-all-products-needs-unrestricted-permission":
        ({"rule": {"products": ["Firefox"]}}, "rule", "create", None, False),
    # required_signoff takes a products option but Balrog checks it without
    # a product: a product-scoped grant is useless.
    "scoped-required-signoff-never-passes": (
        {"required_signoff": {"products": ["Firefox"]}}, "required_signoff", "create", None,
        False,
    ),
    "required-signoff-unrestricted":
        ({"required_signoff": None}, "required_signoff", "delete", None, True),
    "permission-view": ({"permission": {"actions": ["view"]}}, "permission", "view", None, True),
    "read-only-set-is-not-unset":
        ({"release_read_only": {"actions": ["set"]}}, "release_read_only", "unset", "Firefox",
         False),
}  # fmt: skip


@pytest.mark.parametrize(("held", "permission", "action", "product", "expected"), by_id(IS_ALLOWED))
def test_is_allowed_cases(
    held: dict[str, Any], permission: str, action: str, product: str | None, expected: bool
) -> None:
    assert is_allowed(held, permission, action, product) is expected


# --- validate_grant ------------------------------------------------------------


@pytest.mark.parametrize(
    ("permission", "options", "expected"),
    [
        ("admin", None, {}),
        ("rule", {}, {}),
        ("rule", {"products": None}, {}),
        ("rule", {"actions": ("create", "modify")}, {"actions": ["create", "modify"]}),
        ("admin", {"products": ["Firefox"]}, {"products": ["Firefox"]}),
        ("release_read_only", {"actions": ["set", "unset"]}, {"actions": ["set", "unset"]}),
        ("emergency_shutoff", {"actions": ["create", "modify"]}, {"actions": ["create", "modify"]}),
        ("permission", {"actions": ["view"]}, {"actions": ["view"]}),
        ("scheduled_change", {"actions": ["enact"]}, {"actions": ["enact"]}),
        (
            "pinnable_release",
            {"products": ["Firefox", "Thunderbird"]},
            {"products": ["Firefox", "Thunderbird"]},
        ),
        ("required_signoff", {"products": []}, {"products": []}),
    ],
)
def test_validate_grant_accepts(
    permission: str, options: dict[str, Any] | None, expected: dict[str, Any]
) -> None:
    assert validate_grant(permission, options) == expected


def unknown(what: str, name: str, permission: str) -> str:
    """Balrog's refusal of an option or action that ``permission`` does not take."""
    return f'Unknown {what} "{name}" for permission "{permission}"'


FIREFOX_ONLY = {"products": ["Firefox"]}
CREATE = {"actions": ["create"]}
#: (permission, options, field, message) of each grant refused
REFUSED_GRANTS = [
    ("superuser", None, "permission", 'Unknown permission "superuser"'),
    ("", {}, "permission", 'Unknown permission ""'),
    ("admin", CREATE, "options", unknown("option", "actions", "admin")),
    ("permission", FIREFOX_ONLY, "options", unknown("option", "products", "permission")),
    ("scheduled_change", FIREFOX_ONLY, "options",
     unknown("option", "products", "scheduled_change")),
    ("pinnable_release", CREATE, "options", unknown("option", "actions", "pinnable_release")),
    ("required_signoff", CREATE, "options", unknown("option", "actions", "required_signoff")),
    ("rule", {"channels": ["release"]}, "options", unknown("option", "channels", "rule")),
    ("rule", ["products"], "options", "options must be an object"),
    ("rule", {"products": "Firefox"}, "options.products", "products must be a list of strings"),
    ("rule", {"products": ["Firefox", 3]}, "options.products",
     "products must be a list of strings"),
    ("rule", {"actions": "create"}, "options.actions", "actions must be a list of strings"),
    ("rule", {"actions": ["enact"]}, "options.actions", unknown("action", "enact", "rule")),
    ("release_locale", CREATE, "options.actions", unknown("action", "create", "release_locale")),
    ("release_read_only", {"actions": ["modify"]}, "options.actions",
     unknown("action", "modify", "release_read_only")),
    ("scheduled_change", CREATE, "options.actions",
     unknown("action", "create", "scheduled_change")),
]  # fmt: skip


@pytest.mark.parametrize(("permission", "options", "field", "message"), REFUSED_GRANTS)
def test_validate_grant_refuses(permission: str, options: Any, field: str, message: str) -> None:
    with pytest.raises(Invalid) as caught:
        validate_grant(permission, options)
    assert caught.value.field == field
    assert caught.value.message == message


def test_validate_grant_copies() -> None:
    options = {"products": ["Firefox"]}
    stored = validate_grant("rule", options)
    options["products"].append("GMP")
    assert stored == {"products": ["Firefox"]}


# --- REQUIRED_PERMISSION, require, require_change -------------------------------


def test_table_is_consistent() -> None:
    for checks in REQUIRED_PERMISSION.values():
        for check in checks:
            assert check.permission in PERMISSIONS
            if check.permission in ACTIONS:
                assert check.action in ACTIONS[check.permission]


MESSAGE_CASES: list[tuple[str, dict[str, Any], str]] = [
    (
        "rule.create",
        {"new_product": "Firefox"},
        "alice is not allowed to create new rules for product Firefox",
    ),
    ("rule.create", {}, "alice is not allowed to create new rules for product None"),
    (
        "rule.modify",
        {"current_product": "Firefox"},
        "alice is not allowed to modify rules for product Firefox",
    ),
    (
        "rule.delete",
        {"current_product": "GMP"},
        "alice is not allowed to delete rules for product GMP",
    ),
    (
        "release.create",
        {"new_product": "Firefox"},
        "alice is not allowed to create releases for product Firefox",
    ),
    (
        "release.modify",
        {"current_product": "Firefox"},
        "alice is not allowed to modify releases for product Firefox",
    ),
    (
        "release.delete",
        {"current_product": "Firefox"},
        "alice is not allowed to delete releases for product Firefox",
    ),
    (
        "release_locale.modify",
        {"current_product": "Firefox"},
        "alice is not allowed to add builds for product Firefox",
    ),
    (
        "release_read_only.set",
        {"current_product": "Firefox"},
        "alice is not allowed to mark Firefox products read only",
    ),
    (
        "release_read_only.unset",
        {"current_product": "Firefox"},
        "alice is not allowed to mark Firefox products read write",
    ),
    (
        "emergency_shutoff.create",
        {"new_product": "Firefox"},
        "alice is not allowed to shut off updates for product Firefox",
    ),
    (
        "emergency_shutoff.delete",
        {"current_product": "Firefox"},
        "alice is not allowed to delete shutoffs for product Firefox",
    ),
    (
        "pinnable_release.create",
        {"new_product": "Firefox"},
        "alice is not allowed to create pinnable releases for product Firefox",
    ),
    (
        "pinnable_release.modify",
        {"current_product": "Firefox"},
        "alice is not allowed to modify pinnable releases for product Firefox",
    ),
    (
        "pinnable_release.delete",
        {"current_product": "Firefox"},
        "alice is not allowed to delete pinnable releases for product Firefox",
    ),
    (
        "product_required_signoff.create",
        {},
        "alice is not allowed to create new Required Signoffs.",
    ),
    (
        "permissions_required_signoff.modify",
        {},
        "alice is not allowed to modify Required Signoffs.",
    ),
    (
        "product_required_signoff.delete",
        {},
        "alice is not allowed to remove Required Signoffs.",
    ),
    ("product_required_signoff.modify", {}, "alice is not allowed to modify Required Signoffs."),
    (
        "permissions_required_signoff.create",
        {},
        "alice is not allowed to create new Required Signoffs.",
    ),
    (
        "permissions_required_signoff.delete",
        {},
        "alice is not allowed to remove Required Signoffs.",
    ),
    ("permission.create", {}, "alice is not allowed to grant permissions"),
    ("permission.modify", {}, "alice is not allowed to modify permissions"),
    ("permission.delete", {}, "alice is not allowed to revoke permissions"),
    ("permission.view", {}, "You are not authorized to view permissions of other users."),
    ("role.grant", {}, "alice is not allowed to grant user roles"),
    ("role.revoke", {}, "alice is not allowed to revoke user roles"),
    ("scheduled_change.enact", {}, "alice is not allowed to enact scheduled changes"),
]


@pytest.mark.parametrize(("change", "kwargs", "message"), MESSAGE_CASES)
def test_require_change_messages(change: str, kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(PermissionDenied) as caught:
        require_change(
            {"release": None} if not change.startswith("release") else {"rule": None},
            change,
            "alice",
            **kwargs,
        )
    assert caught.value.message == message


def test_every_change_kind_has_a_message_case() -> None:
    # Keeps MESSAGE_CASES in step with REQUIRED_PERMISSION.
    assert {change for change, _, _ in MESSAGE_CASES} == set(REQUIRED_PERMISSION)


@pytest.mark.parametrize(
    ("permission", "action", "product", "message"),
    [
        ("rule", "modify", "Firefox", "alice is not allowed to modify rules for product Firefox"),
        ("rule", "create", None, "alice is not allowed to create new rules for product None"),
        (
            "release_read_only",
            "unset",
            "Firefox",
            "alice is not allowed to mark Firefox products read write",
        ),
        ("permission", "create", None, "alice is not allowed to grant permissions"),
        ("scheduled_change", "enact", None, "alice is not allowed to enact scheduled changes"),
        ("nonsense", "frob", "X", "alice is not allowed to frob nonsense for product X"),
    ],
)
def test_require_default_messages(
    permission: str, action: str, product: str | None, message: str
) -> None:
    with pytest.raises(PermissionDenied) as caught:
        require({}, permission, action, product, "alice")
    assert caught.value.message == message
    assert caught.value.context["permission"] == permission


def test_require_passes_silently() -> None:
    assert require({"rule": {"products": ["Firefox"]}}, "rule", "modify", "Firefox", "a") is None


@pytest.mark.parametrize(
    ("change", "kwargs", "expected"),
    [
        # Rules.update: new product first, and only when the change sets it.
        ("rule.modify", {"current_product": "Firefox"}, [("modify", "Firefox")]),
        (
            "rule.modify",
            {"current_product": "Firefox", "new_product": "GMP"},
            [("modify", "GMP"), ("modify", "Firefox")],
        ),
        (
            "rule.modify",
            {"current_product": "Firefox", "new_product": None},
            [("modify", None), ("modify", "Firefox")],
        ),
        # Releases.update: current product first.
        (
            "release.modify",
            {"current_product": "Firefox", "new_product": "GMP"},
            [("modify", "Firefox"), ("modify", "GMP")],
        ),
        ("rule.create", {}, [("create", None)]),
        ("rule.create", {"new_product": UNSET}, [("create", None)]),
        (
            "release_locale.modify",
            {"current_product": "Firefox"},
            [("modify", "Firefox"), ("modify", "Firefox")],
        ),
        ("scheduled_change.enact", {"current_product": "Firefox"}, [("enact", None)]),
    ],
)
def test_checks_for(change: str, kwargs: dict[str, Any], expected: list[tuple[str, Any]]) -> None:
    assert [(c.action, p) for c, p in checks_for(change, **kwargs)] == expected


def test_checks_for_unknown_change() -> None:
    with pytest.raises(KeyError):
        checks_for("rule.frobnicate")


@pytest.mark.parametrize(
    ("held", "change", "kwargs", "denied"),
    [
        ({"rule": {"products": ["Firefox"]}}, "rule.modify", {"current_product": "Firefox"}, None),
        # Moving a rule to a product the user may not touch.
        (
            {"rule": {"products": ["Firefox"]}},
            "rule.modify",
            {"current_product": "Firefox", "new_product": "GMP"},
            "bob is not allowed to modify rules for product GMP",
        ),
        # Widening a rule to all products.
        (
            {"rule": {"products": ["Firefox"]}},
            "rule.modify",
            {"current_product": "Firefox", "new_product": None},
            "bob is not allowed to modify rules for product None",
        ),
        # Adding a locale needs release_locale and release modify.
        (
            {"release_locale": None},
            "release_locale.modify",
            {"current_product": "Firefox"},
            "bob is not allowed to modify releases for product Firefox",
        ),
        (
            {"release_locale": None, "release": {"actions": ["modify"]}},
            "release_locale.modify",
            {"current_product": "Firefox"},
            None,
        ),
        (
            {"release": {"actions": ["create"]}},
            "release.modify",
            {"current_product": "Firefox"},
            "bob is not allowed to modify releases for product Firefox",
        ),
        ({"permission": {"actions": ["create"]}}, "role.grant", {}, None),
        (
            {"permission": {"actions": ["create"]}},
            "role.revoke",
            {},
            "bob is not allowed to revoke user roles",
        ),
    ],
)
def test_require_change(
    held: dict[str, Any], change: str, kwargs: dict[str, Any], denied: str | None
) -> None:
    if denied is None:
        require_change(held, change, "bob", **kwargs)
    else:
        with pytest.raises(PermissionDenied, match=denied):
            require_change(held, change, "bob", **kwargs)


def test_check_role_grant() -> None:
    check_role_grant({"rule": None})
    with pytest.raises(Invalid, match="without any permissions"):
        check_role_grant({})
