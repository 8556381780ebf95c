"""Balrog's required-signoff rules as pure functions over plain data.

Policies are plain rows, as in Balrog's two policy tables:

* product policies ``{"product", "channel", "role", "signoffs_required"}``
  (``product_req_signoffs``) guard rules, releases and shutoffs;
* permissions policies ``{"product", "role", "signoffs_required"}``
  (``permissions_req_signoffs``) guard permissions.

Each ``required_for_*`` function is one of Balrog's ``getPotentialRequiredSignoffs``
and, like it, returns the *potential* requirements (one per matching policy,
duplicates included); ``reduce_requirements`` turns them into what must be
met -- the highest count per role, as ``verify_signoffs`` does. Which rows to
pass for each kind of change is in ``REQUIRED_SIGNOFFS``.

Sources (Balrog ``src/auslib``): ``db.py`` ``verify_signoffs``,
``Rules``/``Releases``/``EmergencyShutoffs``/``PinnableReleasesTable``/
``Permissions``/``RequiredSignoffsTable`` ``getPotentialRequiredSignoffs``,
``RequiredSignoffsTable.validate``, ``Permissions.revokeRole``,
``SignoffsTable.insert/delete``, ``ScheduledChangeTable.auto_signoff``;
``util/signoffs.py``; ``util/rulematching.py`` ``matchRegex``.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Final, Literal

from rulelog.domain.access.permissions import PERMISSIONS
from rulelog.domain.errors import Invalid, PermissionDenied
from rulelog.domain.serving.matching import ChannelPattern

__all__ = [
    "REQUIRED_SIGNOFFS",
    "Requirement",
    "auto_signoff_role",
    "channel_covers",
    "check_policy_holders",
    "check_role_revoke",
    "check_signoff",
    "check_signoff_revoke",
    "is_satisfied",
    "missing",
    "reduce_requirements",
    "required_for_permission_policies",
    "required_for_permissions",
    "required_for_pins",
    "required_for_product_policies",
    "required_for_release_read_write",
    "required_for_releases",
    "required_for_roles",
    "required_for_rules",
    "required_for_shutoffs",
    "validate_policy",
]

Row = Mapping[str, Any]


@dataclass(frozen=True, order=True)
class Requirement:
    """``signoffs_required`` signoffs from users holding ``role``."""

    role: str
    signoffs_required: int


def _requirement(policy: Row) -> Requirement:
    return Requirement(policy["role"], int(policy["signoffs_required"]))


# --- channel globs ------------------------------------------------------------


@lru_cache(maxsize=1024)
def _pattern(channel: str) -> ChannelPattern:
    return ChannelPattern(channel)


def channel_covers(changed_channel: str | None, policy_channel: str) -> bool:
    """Does a change on ``changed_channel`` touch a policy on ``policy_channel``?

    Balrog (``util/signoffs.get_required_signoffs_for_product_channel`` and
    ``EmergencyShutoffs.getPotentialRequiredSignoffs``) treats the *changed*
    row's channel as the pattern and the policy's channel as the value, with
    ``matchRegex`` -- the rule-matching glob: a missing or empty channel covers
    every policy; ``release*`` covers ``release`` and ``release-cdntest``; only a
    trailing ``*`` with at least two characters before it is a glob, so a rule
    on ``*`` covers *no* policy; a policy channel is never a glob itself (a
    policy on ``release*`` is covered only by the same string or a glob that
    matches those characters). ``domain.matching.ChannelPattern`` implements it.
    Characters other than ``.`` keep their regex meaning there, as in Balrog,
    so a channel like ``rel(*`` cannot be compared: ``Invalid``.
    """
    if not changed_channel:
        return True
    try:
        return _pattern(changed_channel).matches(policy_channel)
    except re.error as error:
        # Balrog fails with a 500 here; refuse the change instead.
        raise Invalid(
            f"Channel {changed_channel!r} is not a valid pattern: {error}", field="channel"
        ) from error


# --- potential requirements per kind of change --------------------------------


def _present(rows: Iterable[Row | None]) -> list[Row]:
    return [row for row in rows if row]


def required_for_rules(rows: Iterable[Row | None], policies: Iterable[Row]) -> list[Requirement]:
    """``Rules.getPotentialRequiredSignoffs``: the product policies each rule row touches.

    Pass the rule as it is and as it will be (``None`` for the side that does
    not exist), because a change can move a rule between products or channels.
    A policy is touched when the rule has no product (it serves every product)
    or the same product, and the rule's channel covers the policy's channel
    (``channel_covers``; no channel covers all).
    """
    policies = list(policies)
    found: dict[tuple[Any, Any], list[Requirement]] = {}
    for row in _present(rows):
        product, channel = row.get("product"), row.get("channel")
        if (product, channel) in found:
            continue
        found[(product, channel)] = [
            _requirement(policy)
            for policy in policies
            if (not product or policy["product"] == product)
            and channel_covers(channel, policy["channel"])
        ]
    return [req for reqs in found.values() for req in reqs]


def _maps(rule: Row, names: Collection[str]) -> bool:
    return rule.get("mapping") in names or rule.get("fallbackMapping") in names


def required_for_releases(
    release_names: Iterable[str | None], rules: Iterable[Row], policies: Iterable[Row]
) -> list[Requirement]:
    """``Releases.getPotentialRequiredSignoffs``: a release needs what its rules need.

    A release does not change what clients get by itself, only through the
    rules whose ``mapping`` *or* ``fallbackMapping`` names it; every such rule's
    ``required_for_rules`` applies. ``rules`` may be all rules: those mapping
    none of ``release_names`` are ignored. Balrog finds the names by joining
    with its releases table, so pass only releases that exist (creating a
    release never needs signoff, even if a rule already names it).
    """
    policies = list(policies)
    names = [name for name in dict.fromkeys(release_names) if name]
    rules = list(rules)
    found: list[Requirement] = []
    for name in names:
        for rule in rules:
            if _maps(rule, {name}):
                found.extend(required_for_rules([rule], policies))
    return found


def required_for_release_read_write(
    release_name: str, release_product: str, rules: Iterable[Row], policies: Iterable[Row]
) -> list[Requirement]:
    """Making a read-only release writable (``Releases.validate_readonly_change``).

    The release's own requirements (``required_for_releases``); if it has none
    -- no rule maps it, or none of them is guarded -- every product policy of
    the release's product, whatever its channel (Balrog's
    ``getPotentialRequiredSignoffsForProduct``), so that a release cannot be
    edited before it goes live on a guarded channel. Marking a release
    read-only, or leaving it read-only, needs no signoff.
    """
    policies = list(policies)
    own = required_for_releases([release_name], rules, policies)
    if own:
        return own
    return [_requirement(policy) for policy in policies if policy["product"] == release_product]


def required_for_shutoffs(rows: Sequence[Row | None], policies: Iterable[Row]) -> list[Requirement]:
    """``EmergencyShutoffs.getPotentialRequiredSignoffs``, for *deleting* a shutoff.

    Balrog looks at the last affected row only: product policies of exactly its
    product whose channel its channel covers (``channel_covers``). Creating a
    shutoff never needs signoff (``EmergencyShutoffs.insert`` verifies none),
    which is the point of an emergency switch; turning it off again does.
    """
    present = _present(rows)
    if not present:
        return []
    row = present[-1]
    return [
        _requirement(policy)
        for policy in policies
        if policy["product"] == row.get("product")
        and channel_covers(row.get("channel"), policy["channel"])
    ]


def required_for_pins(rows: Iterable[Row | None] = ()) -> list[Requirement]:
    """``PinnableReleasesTable.getPotentialRequiredSignoffs``: pins never need signoff."""
    return []


def required_for_roles(rows: Iterable[Row | None] = ()) -> list[Requirement]:
    """Granting or revoking a user role never needs signoff (``Permissions.grantRole``
    and ``revokeRole`` verify none; revoking is limited by ``check_role_revoke``)."""
    return []


def required_for_product_policies(
    rows: Iterable[Row | None], policies: Iterable[Row]
) -> list[Requirement]:
    """``RequiredSignoffsTable.getPotentialRequiredSignoffs`` for product policies.

    Changing a product policy needs the signoffs of the policies already on
    exactly the same product and channel (every role; no glob matching).
    So the first policy of a product/channel needs none, and every later
    addition, change or removal there needs the current ones.
    """
    wanted = {(row["product"], row["channel"]) for row in _present(rows)}
    return [
        _requirement(policy)
        for policy in policies
        if (policy["product"], policy["channel"]) in wanted
    ]


def required_for_permission_policies(
    rows: Iterable[Row | None], permission_policies: Iterable[Row]
) -> list[Requirement]:
    """The same rule for permissions policies: those on exactly the same product."""
    wanted = {row["product"] for row in _present(rows)}
    return [_requirement(policy) for policy in permission_policies if policy["product"] in wanted]


def required_for_permissions(
    rows: Iterable[Row | None], permission_policies: Iterable[Row]
) -> list[Requirement]:
    """``Permissions.getPotentialRequiredSignoffs``: granting, changing or revoking one.

    A row is ``{"permission", "options"}`` (pass it before and after a change).
    A permission restricted to ``products`` needs the policies of those
    products; one without a product restriction -- including ``admin`` without
    products and permissions that cannot take one (``permission``,
    ``scheduled_change``) -- grants power over every product and needs *all*
    permissions policies.
    """
    policies = list(permission_policies)
    found: list[Requirement] = []
    for row in _present(rows):
        options = row.get("options") or {}
        products = options.get("products")
        if "products" in PERMISSIONS.get(row.get("permission"), frozenset()) and products:
            for product in products:
                found.extend(_requirement(p) for p in policies if p["product"] == product)
        else:
            found.extend(_requirement(p) for p in policies)
    return found


# Which rows to pass, per kind of change (the keys of
# domain.permissions.REQUIRED_PERMISSION). "current" is the stored row, "new"
# the row as the change leaves it (current merged with the change). A
# scheduled change reports the same set (web add_signoff_information: insert ->
# new, update -> current + new, delete -> current).
REQUIRED_SIGNOFFS: Final[dict[str, str]] = {
    "rule.create": "required_for_rules([new])",
    "rule.modify": "required_for_rules([current, new])",
    "rule.delete": "required_for_rules([current])",
    "release.create": "none (no rule can map a release that does not exist yet)",
    "release.modify": "required_for_releases([current name, new name], rules)",
    "release.delete": "required_for_releases([name], rules) -- always none: Balrog refuses "
    "to delete a release a rule maps",
    "release_locale.modify": "as release.modify (saved through Releases.update)",
    "release_read_only.set": "none",
    "release_read_only.unset": "required_for_release_read_write(name, product, rules)",
    "emergency_shutoff.create": "none",
    "emergency_shutoff.delete": "required_for_shutoffs([current])",
    "pinnable_release.create": "none",
    "pinnable_release.modify": "none",
    "pinnable_release.delete": "none",
    "product_required_signoff.create": "required_for_product_policies([new])",
    "product_required_signoff.modify": "required_for_product_policies([current, new])",
    "product_required_signoff.delete": "required_for_product_policies([current])",
    "permissions_required_signoff.create": "required_for_permission_policies([new])",
    "permissions_required_signoff.modify": "required_for_permission_policies([current, new])",
    "permissions_required_signoff.delete": "required_for_permission_policies([current])",
    "permission.create": "required_for_permissions([new])",
    "permission.modify": "required_for_permissions([current, new])",
    "permission.delete": "required_for_permissions([current])",
    "role.grant": "none",
    "role.revoke": "none (but check_role_revoke)",
}


# --- reduction and satisfaction -----------------------------------------------


def reduce_requirements(reqs: Iterable[Requirement]) -> list[Requirement]:
    """The highest count per role, sorted by role (``verify_signoffs``,
    ``util/signoffs.serialize_signoff_requirements``): requirements of several
    policies on one role do not add up, the strictest one stands."""
    highest: dict[str, int] = {}
    for req in reqs:
        highest[req.role] = max(highest.get(req.role, req.signoffs_required), req.signoffs_required)
    return [Requirement(role, count) for role, count in sorted(highest.items())]


def is_satisfied(requirements: Iterable[Requirement], signoffs: Mapping[str, str]) -> bool:
    """``verify_signoffs``: every role's highest count is reached.

    ``signoffs`` maps username -> the role they signed off with. No
    requirements: satisfied. Requirements but no signoff at all: not
    satisfied, even if every count is 0 (Balrog raises "No Signoffs given"
    before counting).
    """
    reduced = reduce_requirements(requirements)
    if not reduced:
        return True
    if not signoffs:
        return False
    given = Counter(signoffs.values())
    return all(given[req.role] >= req.signoffs_required for req in reduced)


def missing(requirements: Iterable[Requirement], signoffs: Mapping[str, str]) -> dict[str, int]:
    """Signoffs still needed per role (roles already satisfied left out).

    ``is_satisfied`` is ``not missing(...)`` except in the degenerate case of
    requirements of 0 with no signoff at all (see ``is_satisfied``).
    """
    given = Counter(signoffs.values())
    return {
        req.role: req.signoffs_required - given[req.role]
        for req in reduce_requirements(requirements)
        if given[req.role] < req.signoffs_required
    }


# --- policies and roles -------------------------------------------------------

PolicyKind = Literal["product", "permissions"]
_DECISION_COLUMNS: Final[dict[str, tuple[str, ...]]] = {
    "product": ("product", "channel"),
    "permissions": ("product",),
}


def validate_policy(row: Row, kind: PolicyKind) -> dict[str, Any]:
    """Shape of a policy row; returns it normalised (``signoffs_required`` an int).

    ``RequiredSignoffsTable.validate`` (decision columns must be set: product
    and channel, or product) and the admin API's ``signoffs_required`` format
    (an integer >= 1, strings of digits accepted).
    """
    columns = _DECISION_COLUMNS[kind]
    if any(not row.get(col) for col in columns):
        raise Invalid(f"{list(columns)} are required.", field=columns[0])
    role = row.get("role")
    if not isinstance(role, str) or not role:
        raise Invalid("role is required", field="role")
    raw = row.get("signoffs_required")
    try:
        count = int(raw) if isinstance(raw, int | str) and not isinstance(raw, bool) else None
    except ValueError:
        count = None
    if count is None:
        raise Invalid(
            "Invalid input for signoffs_required. Not an integer.", field="signoffs_required"
        )
    if count < 1:
        raise Invalid(
            "signoffs_required field value should be an integer >= 1", field="signoffs_required"
        )
    return {**{col: row[col] for col in columns}, "role": role, "signoffs_required": count}


def check_policy_holders(
    role: str, signoffs_required: int, holders_count: int, *, target: str | None = None
) -> None:
    """A policy may not ask more signoffs of a role than users hold it.

    ``RequiredSignoffsTable.validate``, on every creation and change of a
    policy: it fails when ``holders_count < signoffs_required`` (as many as
    there are holders is allowed). ``target`` names what the policy guards in
    the message, e.g. ``"Firefox, release"``.
    """
    if holders_count < signoffs_required:
        scope = f" for {target}" if target else ""
        raise Invalid(
            f"Cannot require {signoffs_required} signoffs{scope} - only {holders_count} "
            f"users hold the {role} role",
            field="signoffs_required",
            role=role,
        )


def check_role_revoke(role: str, policies: Iterable[Row], holders_count: int) -> None:
    """``Permissions.revokeRole``: keep every policy of ``role`` satisfiable.

    ``policies`` are all policies, product and permissions ones together;
    ``holders_count`` counts the users holding the role *before* the revoke.
    Balrog also revokes a user's roles when their last permission is revoked,
    so this check can refuse that too.
    """
    counts = [int(p["signoffs_required"]) for p in policies if p["role"] == role]
    if counts and max(counts) > holders_count - 1:
        raise Invalid(
            f"Revoking {role} role would make it impossible for Required Signoffs to be fulfilled",
            field="role",
            role=role,
        )


# --- signing off ------------------------------------------------------------


def check_signoff(
    username: str,
    role: str,
    roles_held: Collection[str],
    existing_role: str | None = None,
    *,
    on_behalf_of: str | None = None,
    system_accounts: Collection[str] = (),
) -> bool:
    """``SignoffsTable.insert``: may ``username`` sign off with ``role``?

    Returns ``True`` when a signoff is to be recorded and ``False`` when the
    user already signed off with that role (a no-op in Balrog). A user signs
    only for themselves, never as a system account, only with a role they
    hold, and with one role per scheduled change (``existing_role``).
    """
    if on_behalf_of is not None and on_behalf_of != username:
        raise PermissionDenied("Cannot signoff on behalf of another user", username=username)
    if username in system_accounts:
        raise PermissionDenied("System account cannot signoff", username=username)
    if role not in roles_held:
        raise PermissionDenied(f"{username} cannot signoff with role '{role}'", username=username)
    if existing_role is not None:
        if existing_role != role:
            raise PermissionDenied("Cannot signoff with a second role", username=username)
        return False
    return True


def check_signoff_revoke(
    username: str,
    signoff_role: str,
    roles_held: Collection[str],
    is_admin: bool,
    *,
    system_accounts: Collection[str] = (),
) -> None:
    """``SignoffsTable.delete``: who may withdraw a signoff (anyone's).

    Not a system account; and a holder of the signoff's role or an admin
    (``admin`` held with any options). Signoffs reset because the scheduled
    change was edited skip this check.
    """
    if username in system_accounts:
        raise PermissionDenied("System accounts cannot revoke a signoff", username=username)
    if signoff_role not in roles_held and not is_admin:
        raise PermissionDenied(
            "Cannot revoke a signoff made by someone in a group you do not belong to",
            username=username,
        )


def auto_signoff_role(roles_held: Iterable[str], requirements: Iterable[Requirement]) -> str | None:
    """``ScheduledChangeTable.auto_signoff``: the role to sign off with on scheduling.

    When the user scheduling (or editing) a change holds exactly one of the
    roles it requires, Balrog signs off for them with it; with none or several
    it does nothing. Balrog computes the requirements here from the scheduled
    row alone (not the current row).
    """
    required = {req.role for req in requirements}
    candidates = {role for role in roles_held if role in required}
    return candidates.pop() if len(candidates) == 1 else None
