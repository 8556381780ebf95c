"""Balrog's required-signoff rules (domain.signoffs), table-driven.

Expected values come from reading Balrog's ``db.py`` (the
``getPotentialRequiredSignoffs`` methods, ``verify_signoffs``,
``RequiredSignoffsTable.validate``, ``Permissions.revokeRole``,
``SignoffsTable``) and ``util/signoffs.py``.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rulelog.domain.access.permissions import REQUIRED_PERMISSION
from rulelog.domain.errors import Invalid, PermissionDenied
from rulelog.domain.workflow.signoff_rules import (
    REQUIRED_SIGNOFFS,
    Requirement,
    auto_signoff_role,
    channel_covers,
    check_policy_holders,
    check_role_revoke,
    check_signoff,
    check_signoff_revoke,
    is_satisfied,
    missing,
    reduce_requirements,
    required_for_permission_policies,
    required_for_permissions,
    required_for_pins,
    required_for_product_policies,
    required_for_release_read_write,
    required_for_releases,
    required_for_roles,
    required_for_rules,
    required_for_shutoffs,
    validate_policy,
)
from tests.tables import truth_table

R = Requirement


def policy(product: str, channel: str, role: str, n: int) -> dict[str, Any]:
    return {"product": product, "channel": channel, "role": role, "signoffs_required": n}


POLICIES = [
    policy("Firefox", "release", "releng", 2),
    policy("Firefox", "release", "relman", 1),
    policy("Firefox", "release-cdntest", "qa", 1),
    policy("Firefox", "beta", "releng", 1),
    policy("Firefox", "release*", "globber", 1),
    policy("Thunderbird", "release", "tbrel", 3),
]


def rule(
    product: str | None,
    channel: str | None,
    mapping: str | None = None,
    fallback: str | None = None,
) -> dict[str, Any]:
    return {"product": product, "channel": channel, "mapping": mapping, "fallbackMapping": fallback}


def reduced(reqs: list[Requirement]) -> dict[str, int]:
    return {r.role: r.signoffs_required for r in reduce_requirements(reqs)}


# --- channel globs ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("changed", "policy_channel", "expected"),
    truth_table(
        {  # changed channel: (policy channels it covers, policy channels it does not)
            None: (["release"], []),
            "": (["release"], []),
            # release does not cover release*: the policy's channel is no glob.
            "release": (["release"], ["beta", "release-cdntest", "release*"]),
            "release*": (["release", "release-cdntest", "release*"], ["beta"]),
            "re*": (["release"], []),
            "r*": ([], ["release"]),  # a glob needs two characters before the '*'
            "*": ([], ["release"]),  # so '*' alone covers nothing
            "rel*": (["release*"], []),
            "b.t*": (["b.ta"], ["beta"]),  # '.' is literal
            "release-cck-*": ([], ["release"]),
            "nightly": (["nightly"], []),
        }
    ),
)
def test_channel_covers(changed: str | None, policy_channel: str, expected: bool) -> None:
    assert channel_covers(changed, policy_channel) is expected


def test_channel_covers_broken_pattern_is_invalid() -> None:
    with pytest.raises(Invalid) as caught:
        channel_covers("rel(*", "release")
    assert caught.value.field == "channel"
    # Only compared when there is a policy to compare with.
    assert required_for_rules([rule("Firefox", "rel(*")], []) == []


# --- rules -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        pytest.param([rule("Firefox", "release")], {"releng": 2, "relman": 1}, id="exact"),
        pytest.param([rule("Firefox", "beta")], {"releng": 1}, id="other-channel"),
        pytest.param([rule("Firefox", "aurora")], {}, id="unguarded-channel"),
        pytest.param([rule("GMP", "release")], {}, id="unguarded-product"),
        pytest.param(
            [rule("Firefox", "release*")],
            {"releng": 2, "relman": 1, "qa": 1, "globber": 1},
            id="glob-rule-covers-release-release-cdntest-and-literal-release*",
        ),
        pytest.param(
            [rule("Firefox", None)],
            {"releng": 2, "relman": 1, "qa": 1, "globber": 1},
            id="no-channel-is-every-channel",
        ),
        pytest.param(
            [rule(None, "release")],
            {"releng": 2, "relman": 1, "tbrel": 3},
            id="no-product-is-every-product",
        ),
        pytest.param(
            [rule(None, None)],
            {"releng": 2, "relman": 1, "qa": 1, "globber": 1, "tbrel": 3},
            id="no-product-no-channel-is-everything",
        ),
        pytest.param(
            [rule("", "")],
            reduced([R(p["role"], p["signoffs_required"]) for p in POLICIES]),
            id="empty-strings-are-missing",
        ),
        pytest.param([rule("Firefox", "*")], {}, id="star-rule-covers-nothing"),
        pytest.param(
            [rule("Firefox", "aurora"), rule("Firefox", "beta")],
            {"releng": 1},
            id="old-and-new-channel",
        ),
        pytest.param(
            [rule("Thunderbird", "release"), rule("Firefox", "release")],
            {"tbrel": 3, "releng": 2, "relman": 1},
            id="moved-between-products",
        ),
        pytest.param([None, rule("Firefox", "beta")], {"releng": 1}, id="insert-old-is-none"),
        pytest.param([rule("Firefox", "beta"), None], {"releng": 1}, id="delete-new-is-none"),
        pytest.param([None, None], {}, id="nothing"),
    ],
)
def test_required_for_rules(rows: list[Any], expected: dict[str, int]) -> None:
    assert reduced(required_for_rules(rows, POLICIES)) == expected


def test_required_for_rules_keeps_every_potential_requirement() -> None:
    # Potential requirements are not reduced yet: one per matching policy.
    assert required_for_rules([rule("Firefox", "release")], POLICIES) == [
        R("releng", 2),
        R("relman", 1),
    ]
    # The same (product, channel) twice counts once, as Balrog keys by it.
    same = required_for_rules([rule("Firefox", "release"), rule("Firefox", "release")], POLICIES)
    assert same == [R("releng", 2), R("relman", 1)]


# --- releases ----------------------------------------------------------------------


RULES = [
    rule("Firefox", "release", mapping="Firefox-60.0-build1"),
    rule("Firefox", "beta", mapping="Firefox-61.0b1-build1", fallback="Firefox-60.0-build1"),
    rule("Firefox", "aurora", mapping="Firefox-62.0a2"),
    rule("Thunderbird", "release", fallback="Thunderbird-60.0-build1"),
    rule(None, "release", mapping="Everything"),
]


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        pytest.param(
            ["Firefox-60.0-build1"],
            {"releng": 2, "relman": 1},
            id="mapping-and-fallback-highest-per-role",
        ),
        pytest.param(["Firefox-61.0b1-build1"], {"releng": 1}, id="one-rule"),
        pytest.param(["Firefox-62.0a2"], {}, id="mapped-by-unguarded-rule"),
        pytest.param(["Thunderbird-60.0-build1"], {"tbrel": 3}, id="fallback-mapping-only"),
        pytest.param(["Firefox-99.0-build1"], {}, id="unmapped"),
        pytest.param(
            ["Everything"], {"releng": 2, "relman": 1, "tbrel": 3}, id="rule-for-all-products"
        ),
        pytest.param(
            ["Firefox-62.0a2", "Firefox-61.0b1-build1"], {"releng": 1}, id="renamed-old-and-new"
        ),
        pytest.param([None, "Firefox-61.0b1-build1"], {"releng": 1}, id="none-name-skipped"),
        pytest.param([], {}, id="no-names"),
    ],
)
def test_required_for_releases(names: list[str | None], expected: dict[str, int]) -> None:
    assert reduced(required_for_releases(names, RULES, POLICIES)) == expected


def test_release_mapped_by_several_rules_needs_each_rules_signoffs() -> None:
    reqs = required_for_releases(["Firefox-60.0-build1"], RULES, POLICIES)
    # release rule (releng 2, relman 1) + beta rule via fallbackMapping (releng 1)
    assert sorted(reqs) == [R("releng", 1), R("releng", 2), R("relman", 1)]


@pytest.mark.parametrize(
    ("name", "product", "expected"),
    [
        pytest.param("Firefox-61.0b1-build1", "Firefox", {"releng": 1}, id="mapped-guarded"),
        pytest.param(
            "Firefox-62.0a2",
            "Firefox",
            {"releng": 2, "relman": 1, "qa": 1, "globber": 1},
            id="mapped-unguarded-falls-back-to-product",
        ),
        pytest.param(
            "Firefox-99",
            "Firefox",
            {"releng": 2, "relman": 1, "qa": 1, "globber": 1},
            id="unmapped-falls-back-to-product",
        ),
        pytest.param("GMP-1", "GMP", {}, id="unguarded-product"),
    ],
)
def test_required_for_release_read_write(name: str, product: str, expected: dict[str, int]) -> None:
    assert reduced(required_for_release_read_write(name, product, RULES, POLICIES)) == expected


# --- shutoffs, pins, roles ------------------------------------------------------------


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        pytest.param(
            [{"product": "Firefox", "channel": "release"}], {"releng": 2, "relman": 1}, id="exact"
        ),
        pytest.param(
            [{"product": "Firefox", "channel": "release*"}],
            {"releng": 2, "relman": 1, "qa": 1, "globber": 1},
            id="glob",
        ),
        pytest.param([{"product": "Firefox", "channel": "nightly"}], {}, id="unguarded"),
        pytest.param([{"product": "GMP", "channel": "release"}], {}, id="other-product"),
        pytest.param(
            [
                {"product": "Thunderbird", "channel": "release"},
                {"product": "Firefox", "channel": "beta"},
            ],
            {"releng": 1},
            id="last-row-only",
        ),
        pytest.param([], {}, id="no-rows"),
    ],
)
def test_required_for_shutoffs(rows: list[Any], expected: dict[str, int]) -> None:
    assert reduced(required_for_shutoffs(rows, POLICIES)) == expected


def test_pins_and_roles_never_need_signoff() -> None:
    assert required_for_pins([{"product": "Firefox", "channel": "release"}]) == []
    assert required_for_roles([{"username": "a", "role": "releng"}]) == []


# --- policies and permissions ----------------------------------------------------------


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        pytest.param(
            [policy("Firefox", "release", "qa", 1)],
            {"releng": 2, "relman": 1},
            id="existing-policies-of-same-product-channel",
        ),
        pytest.param([policy("Firefox", "aurora", "qa", 1)], {}, id="first-policy-free"),
        pytest.param(
            [policy("Firefox", "release-cdntest", "qa", 1)], {"qa": 1}, id="no-glob-matching"
        ),
        pytest.param(
            [policy("Firefox", "release*", "x", 1)], {"globber": 1}, id="glob-policy-only-itself"
        ),
        pytest.param(
            [policy("Firefox", "beta", "releng", 1), policy("Firefox", "release", "releng", 1)],
            {"releng": 2, "relman": 1},
            id="old-and-new",
        ),
        pytest.param([None, policy("Thunderbird", "release", "x", 1)], {"tbrel": 3}, id="insert"),
    ],
)
def test_required_for_product_policies(rows: list[Any], expected: dict[str, int]) -> None:
    assert reduced(required_for_product_policies(rows, POLICIES)) == expected


PERMISSION_POLICIES = [
    {"product": "Firefox", "role": "releng", "signoffs_required": 2},
    {"product": "Firefox", "role": "relman", "signoffs_required": 1},
    {"product": "Thunderbird", "role": "tbrel", "signoffs_required": 1},
    {"product": "GMP", "role": "releng", "signoffs_required": 3},
]
ALL_PERMISSION_ROLES = {"releng": 3, "relman": 1, "tbrel": 1}
FIREFOX_ROLES = {"releng": 2, "relman": 1}


def grant(permission: str, options: dict[str, Any] | None) -> dict[str, Any]:
    """A permission row as Balrog's signoff checks read it."""
    return {"permission": permission, "options": options}


def products(*names: str) -> dict[str, Any]:
    return {"products": list(names)}


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        pytest.param([grant("rule", products("Firefox"))], FIREFOX_ROLES, id="one-product"),
        pytest.param(
            [grant("release", products("Firefox", "GMP"))],
            {"releng": 3, "relman": 1},
            id="several-products-highest",
        ),
        pytest.param([grant("rule", products("SeaMonkey"))], {}, id="unguarded-product"),
        pytest.param([grant("rule", None)], ALL_PERMISSION_ROLES, id="no-options-is-all-products"),
        pytest.param(
            [grant("rule", {"actions": ["create"]})],
            ALL_PERMISSION_ROLES,
            id="actions-only-is-all-products",
        ),
        pytest.param(
            [grant("rule", products())], ALL_PERMISSION_ROLES, id="empty-products-is-all-products"
        ),
        pytest.param([grant("admin", None)], ALL_PERMISSION_ROLES, id="admin-is-all"),
        pytest.param([grant("admin", products("Thunderbird"))], {"tbrel": 1}, id="scoped-admin"),
        pytest.param(
            [grant("permission", {"actions": ["create"]})],
            ALL_PERMISSION_ROLES,
            id="permission-cannot-take-products",
        ),
        pytest.param(
            [grant("scheduled_change", None)], ALL_PERMISSION_ROLES, id="scheduled-change"
        ),
        pytest.param(
            [grant("required_signoff", products("GMP"))],
            {"releng": 3},
            id="required-signoff-products",
        ),
        pytest.param(
            [grant("pinnable_release", products("Firefox"))],
            FIREFOX_ROLES,
            id="pinnable-release-products",
        ),
        pytest.param(
            [grant("rule", products("Thunderbird")), grant("rule", products("Firefox"))],
            {"tbrel": 1, "releng": 2, "relman": 1},
            id="old-and-new",
        ),
        pytest.param([None, grant("rule", products("Thunderbird"))], {"tbrel": 1}, id="grant"),
    ],
)
def test_required_for_permissions(rows: list[Any], expected: dict[str, int]) -> None:
    assert reduced(required_for_permissions(rows, PERMISSION_POLICIES)) == expected


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        (
            [{"product": "Firefox", "role": "qa", "signoffs_required": 1}],
            {"releng": 2, "relman": 1},
        ),
        ([{"product": "SeaMonkey", "role": "qa", "signoffs_required": 1}], {}),
        ([{"product": "GMP", "role": "releng", "signoffs_required": 2}], {"releng": 3}),
    ],
)
def test_required_for_permission_policies(rows: list[Any], expected: dict[str, int]) -> None:
    assert reduced(required_for_permission_policies(rows, PERMISSION_POLICIES)) == expected


def test_required_signoffs_table_covers_every_change_kind() -> None:
    assert set(REQUIRED_SIGNOFFS) == set(REQUIRED_PERMISSION) - {
        "permission.view",
        "scheduled_change.enact",
    }


# --- reduction and satisfaction ------------------------------------------------------------


@pytest.mark.parametrize(
    ("reqs", "expected"),
    [
        ([], []),
        ([R("releng", 1)], [R("releng", 1)]),
        ([R("releng", 1), R("releng", 3), R("releng", 2)], [R("releng", 3)]),
        ([R("relman", 1), R("releng", 2), R("relman", 2)], [R("releng", 2), R("relman", 2)]),
    ],
)
def test_reduce_requirements(reqs: list[Requirement], expected: list[Requirement]) -> None:
    assert reduce_requirements(reqs) == expected


REQS = [R("releng", 2), R("relman", 1), R("releng", 1)]


@pytest.mark.parametrize(
    ("reqs", "signoffs", "satisfied", "short"),
    [
        pytest.param([], {}, True, {}, id="nothing-required"),
        pytest.param([], {"a": "releng"}, True, {}, id="nothing-required-extra-signoff"),
        pytest.param(REQS, {}, False, {"releng": 2, "relman": 1}, id="no-signoffs"),
        pytest.param(REQS, {"a": "releng", "b": "releng", "c": "relman"}, True, {}, id="met"),
        pytest.param(REQS, {"a": "releng", "c": "relman"}, False, {"releng": 1}, id="one-short"),
        pytest.param(REQS, {"a": "releng", "b": "releng"}, False, {"relman": 1}, id="role-missing"),
        pytest.param(
            REQS,
            {"a": "releng", "b": "releng", "c": "qa", "d": "relman"},
            True,
            {},
            id="extra-roles-harmless",
        ),
        pytest.param(
            [R("releng", 1)], {"a": "relman"}, False, {"releng": 1}, id="other-role-does-not-count"
        ),
        # Balrog raises "No Signoffs given" before counting, even for 0.
        pytest.param([R("releng", 0)], {}, False, {}, id="zero-count-without-signoffs"),
        pytest.param([R("releng", 0)], {"a": "qa"}, True, {}, id="zero-count-with-a-signoff"),
    ],
)
def test_is_satisfied_and_missing(
    reqs: list[Requirement], signoffs: dict[str, str], satisfied: bool, short: dict[str, int]
) -> None:
    assert is_satisfied(reqs, signoffs) is satisfied
    assert missing(reqs, signoffs) == short


requirements = st.lists(
    st.builds(Requirement, st.sampled_from(["releng", "relman", "qa", "tbrel"]), st.integers(0, 5)),
    max_size=12,
)


@given(requirements, st.randoms())
def test_reduce_is_idempotent_and_order_independent(reqs: list[Requirement], rnd: Any) -> None:
    once = reduce_requirements(reqs)
    assert reduce_requirements(once) == once
    shuffled = list(reqs)
    rnd.shuffle(shuffled)
    assert reduce_requirements(shuffled) == once
    assert reduce_requirements(reqs + reqs) == once
    highest = {r.role: r.signoffs_required for r in once}
    for req in reqs:  # every role kept, at its highest count
        assert highest[req.role] == max(r.signoffs_required for r in reqs if r.role == req.role)


@given(
    requirements,
    st.dictionaries(
        st.text(min_size=1, max_size=3), st.sampled_from(["releng", "relman", "qa"]), max_size=6
    ),
)
def test_satisfaction_depends_only_on_reduced(
    reqs: list[Requirement], signoffs: dict[str, str]
) -> None:
    assert is_satisfied(reqs, signoffs) == is_satisfied(reduce_requirements(reqs), signoffs)
    if signoffs or not reqs:
        assert is_satisfied(reqs, signoffs) == (not missing(reqs, signoffs))


# --- policy validation --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "required", "holders", "target", "message"),
    [
        (
            "releng",
            3,
            2,
            "Firefox, release",
            "Cannot require 3 signoffs for Firefox, release - only 2 users hold the releng role",
        ),
        (
            "releng",
            1,
            0,
            "GMP",
            "Cannot require 1 signoffs for GMP - only 0 users hold the releng role",
        ),
        ("releng", 2, 1, None, "Cannot require 2 signoffs - only 1 users hold the releng role"),
    ],
)
def test_check_policy_holders_refuses(
    role: str, required: int, holders: int, target: str | None, message: str
) -> None:
    with pytest.raises(Invalid) as caught:
        check_policy_holders(role, required, holders, target=target)
    assert caught.value.message == message
    assert caught.value.field == "signoffs_required"


@pytest.mark.parametrize(("required", "holders"), [(2, 2), (1, 5)])
def test_check_policy_holders_accepts(required: int, holders: int) -> None:
    check_policy_holders("releng", required, holders)


@pytest.mark.parametrize(
    ("row", "kind", "expected"),
    [
        (
            policy("Firefox", "release", "releng", 2),
            "product",
            {"product": "Firefox", "channel": "release", "role": "releng", "signoffs_required": 2},
        ),
        (
            {"product": "Firefox", "role": "releng", "signoffs_required": "3"},
            "permissions",
            {"product": "Firefox", "role": "releng", "signoffs_required": 3},
        ),
    ],
)
def test_validate_policy_accepts(row: dict[str, Any], kind: Any, expected: dict[str, Any]) -> None:
    assert validate_policy(row, kind) == expected


@pytest.mark.parametrize(
    ("row", "kind", "field", "message"),
    [
        (
            {"product": "Firefox", "channel": None, "role": "r", "signoffs_required": 1},
            "product",
            "product",
            "['product', 'channel'] are required.",
        ),
        (
            {"product": None, "role": "r", "signoffs_required": 1},
            "permissions",
            "product",
            "['product'] are required.",
        ),
        (
            {"product": "F", "channel": "c", "role": "", "signoffs_required": 1},
            "product",
            "role",
            "role is required",
        ),
        (
            {"product": "F", "channel": "c", "role": "r", "signoffs_required": 0},
            "product",
            "signoffs_required",
            "signoffs_required field value should be an integer >= 1",
        ),
        (
            {"product": "F", "channel": "c", "role": "r", "signoffs_required": "two"},
            "product",
            "signoffs_required",
            "Invalid input for signoffs_required. Not an integer.",
        ),
        (
            {"product": "F", "channel": "c", "role": "r", "signoffs_required": 1.5},
            "product",
            "signoffs_required",
            "Invalid input for signoffs_required. Not an integer.",
        ),
    ],
)
def test_validate_policy_refuses(row: dict[str, Any], kind: Any, field: str, message: str) -> None:
    with pytest.raises(Invalid) as caught:
        validate_policy(row, kind)
    assert (caught.value.field, caught.value.message) == (field, message)


ROLE_POLICIES = [
    policy("Firefox", "release", "releng", 2),
    {"product": "Firefox", "role": "releng", "signoffs_required": 1},
    {"product": "Firefox", "role": "relman", "signoffs_required": 1},
]


@pytest.mark.parametrize(
    ("role", "holders", "refused"),
    [
        ("releng", 3, False),  # 2 required, 2 left
        ("releng", 2, True),  # 2 required, 1 left
        ("relman", 2, False),
        ("relman", 1, True),
        ("qa", 1, False),  # no policy on the role
    ],
)
def test_check_role_revoke(role: str, holders: int, refused: bool) -> None:
    if refused:
        with pytest.raises(Invalid, match=f"Revoking {role} role would make it impossible"):
            check_role_revoke(role, ROLE_POLICIES, holders)
    else:
        check_role_revoke(role, ROLE_POLICIES, holders)


# --- signing off ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "outcome"),
    [
        (dict(username="a", role="releng", roles_held={"releng"}), True),
        (dict(username="a", role="releng", roles_held={"releng"}, existing_role="releng"), False),
        (
            dict(
                username="a", role="releng", roles_held={"releng", "relman"}, existing_role="relman"
            ),
            "Cannot signoff with a second role",
        ),
        (
            dict(username="a", role="releng", roles_held={"relman"}),
            "a cannot signoff with role 'releng'",
        ),
        (
            dict(username="a", role="releng", roles_held={"releng"}, on_behalf_of="b"),
            "Cannot signoff on behalf of another user",
        ),
        (dict(username="a", role="releng", roles_held={"releng"}, on_behalf_of="a"), True),
        (
            dict(username="bot", role="releng", roles_held={"releng"}, system_accounts={"bot"}),
            "System account cannot signoff",
        ),
    ],
)
def test_check_signoff(kwargs: dict[str, Any], outcome: bool | str) -> None:
    if isinstance(outcome, bool):
        assert check_signoff(**kwargs) is outcome
    else:
        with pytest.raises(PermissionDenied) as caught:
            check_signoff(**kwargs)
        assert caught.value.message == outcome


@pytest.mark.parametrize(
    ("roles_held", "is_admin", "system", "message"),
    [
        ({"releng"}, False, False, None),
        (set(), True, False, None),
        (
            {"relman"},
            False,
            False,
            "Cannot revoke a signoff made by someone in a group you do not belong to",
        ),
        ({"releng"}, True, True, "System accounts cannot revoke a signoff"),
    ],
)
def test_check_signoff_revoke(
    roles_held: set[str], is_admin: bool, system: bool, message: str | None
) -> None:
    accounts = {"a"} if system else set()
    if message is None:
        check_signoff_revoke("a", "releng", roles_held, is_admin, system_accounts=accounts)
    else:
        with pytest.raises(PermissionDenied) as caught:
            check_signoff_revoke("a", "releng", roles_held, is_admin, system_accounts=accounts)
        assert caught.value.message == message


@pytest.mark.parametrize(
    ("roles_held", "reqs", "expected"),
    [
        (["releng"], [R("releng", 2)], "releng"),
        (["releng", "qa"], [R("releng", 2), R("relman", 1)], "releng"),
        (["releng", "relman"], [R("releng", 2), R("relman", 1)], None),  # ambiguous
        (["qa"], [R("releng", 2)], None),
        (["releng"], [], None),
        ([], [R("releng", 1)], None),
    ],
)
def test_auto_signoff_role(
    roles_held: list[str], reqs: list[Requirement], expected: str | None
) -> None:
    assert auto_signoff_role(roles_held, reqs) == expected
