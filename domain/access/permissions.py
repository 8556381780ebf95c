"""Balrog's permission rules as pure functions over plain data.

A user's permissions are a mapping ``{permission name: options}`` (what Balrog
keeps as rows of its ``permissions`` table), where options is ``None`` or a
dict with ``products`` and/or ``actions`` lists. Nothing here reads a store:
the aggregates look the rows up and ask these functions.

Sources (Balrog ``src/auslib``):

* ``db.py`` ``Permissions.allPermissions`` -- the permissions and the options
  each accepts (``PERMISSIONS``);
* ``Permissions.assertPermissionExists`` / ``assertOptionsExist`` -- the checks
  on a grant (``validate_grant``);
* ``Permissions.hasPermission`` -- the decision (``is_allowed``);
* every ``hasPermission`` caller in ``db.py`` -- which permission, action and
  product each kind of change needs, and the message raised when it is missing
  (``REQUIRED_PERMISSION``, ``require``, ``require_change``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any, Final, Literal

from rulelog.domain.errors import Invalid, PermissionDenied

__all__ = [
    "ACTIONS",
    "PERMISSIONS",
    "REQUIRED_PERMISSION",
    "SCHEDULING",
    "UNSET",
    "Check",
    "check_role_grant",
    "checks_for",
    "is_allowed",
    "require",
    "require_change",
    "validate_grant",
]

# Balrog ``Permissions.allPermissions``: permission -> options it accepts.
PERMISSIONS: Final[dict[str, frozenset[str]]] = {
    "admin": frozenset({"products"}),
    "emergency_shutoff": frozenset({"actions", "products"}),
    "release": frozenset({"actions", "products"}),
    "release_locale": frozenset({"actions", "products"}),
    "release_read_only": frozenset({"actions", "products"}),
    "rule": frozenset({"actions", "products"}),
    "pinnable_release": frozenset({"products"}),
    "permission": frozenset({"actions"}),
    "required_signoff": frozenset({"products"}),
    "scheduled_change": frozenset({"actions"}),
}

# Actions that may appear in an ``actions`` option. Balrog itself stores any
# string there; this is the set its code checks (``hasPermission`` callers)
# plus ``emergency_shutoff``/``modify``, which Balrog's admin UI offers
# (``ui/src/utils/constants.js``) although no server code ever checks it --
# kept so grants made through Balrog's UI can be imported.
ACTIONS: Final[dict[str, frozenset[str]]] = {
    "emergency_shutoff": frozenset({"create", "modify", "delete"}),
    "release": frozenset({"create", "modify", "delete"}),
    "release_locale": frozenset({"modify"}),
    "release_read_only": frozenset({"set", "unset"}),
    "rule": frozenset({"create", "modify", "delete"}),
    "permission": frozenset({"create", "modify", "delete", "view"}),
    "scheduled_change": frozenset({"enact"}),
}


def validate_grant(permission: str, options: Mapping[str, Any] | None) -> dict[str, Any]:
    """Check a permission grant (or a change of its options); return the options to store.

    Reproduces ``Permissions.assertPermissionExists`` and ``assertOptionsExist``
    (run by ``Permissions.insert``/``update``), and adds the type checks Balrog
    leaves to luck: there a ``products`` string would be matched by substring
    (``product in "Firefox"``) and an unknown action would silently grant
    nothing. ``None`` and ``{}`` both mean "no restriction" and become ``{}``
    (Balrog's API turns ``{}`` into ``NULL``); an option set to ``null`` is
    dropped. An empty list is kept and, as in Balrog, restricts nothing.
    """
    if not isinstance(permission, str) or permission not in PERMISSIONS:
        raise Invalid(f'Unknown permission "{permission}"', field="permission")
    if options is None:
        return {}
    if not isinstance(options, Mapping):
        raise Invalid("options must be an object", field="options")
    normalised: dict[str, Any] = {}
    for name, value in options.items():
        if name not in PERMISSIONS[permission]:
            raise Invalid(f'Unknown option "{name}" for permission "{permission}"', field="options")
        if value is not None:  # Balrog reads a null option as "no restriction"
            normalised[name] = _string_list(name, value)
    for action in normalised.get("actions", []):
        if action not in ACTIONS[permission]:
            raise Invalid(
                f'Unknown action "{action}" for permission "{permission}"',
                field="options.actions",
            )
    return normalised


def _string_list(name: str, value: Any) -> list[str]:
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise Invalid(f"{name} must be a list of strings", field=f"options.{name}")
    return list(value)


def is_allowed(
    held: Mapping[str, Mapping[str, Any] | None],
    permission: str,
    action: str | None,
    product: str | None,
) -> bool:
    """Balrog's ``Permissions.hasPermission`` for one user's permissions.

    * ``admin`` decides alone whenever the user holds it: without a non-empty
      ``products`` it allows everything; with one it allows only changes whose
      product is listed -- so a product-scoped admin is refused anything
      checked without a product (permissions, required signoffs, enacting
      scheduled changes, rules for all products) *even if* the user also holds
      the specific permission without restriction (Balrog returns before
      looking at it).
    * Otherwise the named permission must be held; a non-empty ``actions``
      must list ``action`` and a non-empty ``products`` must list ``product``.
      A ``product`` of ``None`` is never "listed", so a product restriction
      denies product-less checks (Balrog: ``None not in products``).
    """
    if "admin" in held:
        admin_products = (held["admin"] or {}).get("products")
        return not admin_products or product in admin_products
    if permission not in held:
        return False
    options = held[permission] or {}
    actions = options.get("actions")
    if actions and action not in actions:
        return False
    products = options.get("products")
    return not (products and product not in products)


# --- what each change needs -------------------------------------------------

ProductSource = Literal["new", "current"] | None


@dataclass(frozen=True)
class Check:
    """One ``hasPermission`` call Balrog makes for a kind of change.

    ``product`` says which product Balrog passes: ``"new"`` -- the product of
    the row being created, or for a modification the product the change sets
    (checked only when the change sets one, even to the same value);
    ``"current"`` -- the product of the existing row; ``None`` -- no product.
    ``message`` is Balrog's refusal, formatted with ``username`` and ``product``.
    """

    permission: str
    action: str
    product: ProductSource
    message: str


def _c(permission: str, action: str, product: ProductSource, message: str) -> Check:
    return Check(permission, action, product, message)


def _rule(verb: str) -> str:
    return f"{{username}} is not allowed to {verb} rules for product {{product}}"


def _release(verb: str) -> str:
    return f"{{username}} is not allowed to {verb} releases for product {{product}}"


def _pin(verb: str) -> str:
    return f"{{username}} is not allowed to {verb} pinnable releases for product {{product}}"


def _unscoped(
    kind: str, permission: str, noun: str, changes: tuple[tuple[str, str, str], ...]
) -> dict[str, tuple[Check, ...]]:
    """One check that takes no product per change of ``kind``, each given as
    (change, the permission's action, the verb of Balrog's message)."""
    return {
        f"{kind}.{change}": (
            _c(permission, action, None, f"{{username}} is not allowed to {verb} {noun}"),
        )
        for change, action, verb in changes
    }


def _policy_checks(kind: str) -> dict[str, tuple[Check, ...]]:
    """``RequiredSignoffsTable.insert/update/delete``, shared by both policy tables."""
    changes = (
        ("create", "create", "create new"),
        ("modify", "modify", "modify"),
        ("delete", "delete", "remove"),
    )
    return _unscoped(kind, "required_signoff", "Required Signoffs.", changes)


# Kind of change -> the checks Balrog runs, in its order (the first failing one
# gives the message). Sources: db.py Rules.insert/update/delete,
# Releases.insert/update/delete/addLocaleToRelease/validate_readonly_change,
# EmergencyShutoffs.insert/delete, PinnableReleasesTable.insert/update/delete,
# RequiredSignoffsTable.insert/update/delete, Permissions.insert/update/delete/
# grantRole/revokeRole/getUserPermissions, ScheduledChangeTable.enactChange.
REQUIRED_PERMISSION: Final[dict[str, tuple[Check, ...]]] = {
    "rule.create": (_c("rule", "create", "new", _rule("create new")),),
    # Rules.update: the new product first (only if the change sets one).
    "rule.modify": (
        _c("rule", "modify", "new", _rule("modify")),
        _c("rule", "modify", "current", _rule("modify")),
    ),
    "rule.delete": (_c("rule", "delete", "current", _rule("delete")),),
    "release.create": (_c("release", "create", "new", _release("create")),),
    # Releases.update: the current product first, then the new one.
    "release.modify": (
        _c("release", "modify", "current", _release("modify")),
        _c("release", "modify", "new", _release("modify")),
    ),
    "release.delete": (_c("release", "delete", "current", _release("delete")),),
    # addLocaleToRelease checks release_locale, then saves through
    # Releases.update, which checks release/modify as well.
    "release_locale.modify": (
        _c(
            "release_locale",
            "modify",
            "current",
            "{username} is not allowed to add builds for product {product}",
        ),
        _c("release", "modify", "current", _release("modify")),
    ),
    "release_read_only.set": (
        _c(
            "release_read_only",
            "set",
            "current",
            "{username} is not allowed to mark {product} products read only",
        ),
    ),
    "release_read_only.unset": (
        _c(
            "release_read_only",
            "unset",
            "current",
            "{username} is not allowed to mark {product} products read write",
        ),
    ),
    "emergency_shutoff.create": (
        _c(
            "emergency_shutoff",
            "create",
            "new",
            "{username} is not allowed to shut off updates for product {product}",
        ),
    ),
    "emergency_shutoff.delete": (
        _c(
            "emergency_shutoff",
            "delete",
            "current",
            "{username} is not allowed to delete shutoffs for product {product}",
        ),
    ),
    "pinnable_release.create": (_c("pinnable_release", "create", "new", _pin("create")),),
    "pinnable_release.modify": (_c("pinnable_release", "modify", "current", _pin("modify")),),
    "pinnable_release.delete": (_c("pinnable_release", "delete", "current", _pin("delete")),),
    **_policy_checks("product_required_signoff"),
    **_policy_checks("permissions_required_signoff"),
    **_unscoped(
        "permission",
        "permission",
        "permissions",
        (
            ("create", "create", "grant"),
            ("modify", "modify", "modify"),
            ("delete", "delete", "revoke"),
        ),
    ),
    "permission.view": (
        _c(
            "permission", "view", None, "You are not authorized to view permissions of other users."
        ),
    ),
    # Permissions.grantRole/revokeRole check the permission permission.
    **_unscoped(
        "role",
        "permission",
        "user roles",
        (("grant", "create", "grant"), ("revoke", "delete", "revoke")),
    ),
    **_unscoped(
        "scheduled_change", "scheduled_change", "scheduled changes", (("enact", "enact", "enact"),)
    ),
}

# What Balrog checks around scheduled changes (ScheduledChangeTable).
SCHEDULING: Final[dict[str, str]] = {
    "schedule": "validate() -> _checkBaseTablePermissions: the scheduler needs the checks of "
    "the underlying change (insert -> <kind>.create, update -> <kind>.modify, "
    "delete -> <kind>.delete), run as a dry run; no extra permission",
    "update schedule": "the same base-table checks again, on the merged change",
    "cancel schedule": "the same base-table checks (delete() re-runs them)",
    "sign off / revoke": "no permission; role rules (domain.signoffs.check_signoff)",
    "enact": "scheduled_change.enact for the enacter; then the base change runs as "
    "scheduled_by, so the scheduler's checks are repeated at enact time, with signoffs",
}


class _Unset(Enum):
    """Sentinel type: "the change does not set product" (distinct from ``None``)."""

    UNSET = "UNSET"


UNSET: Final = _Unset.UNSET


def _default_messages() -> dict[tuple[str, str], str]:
    """Message per (permission, action) for ``require``: the first table entry wins."""
    messages: dict[tuple[str, str], str] = {}
    for checks in REQUIRED_PERMISSION.values():
        for check in checks:
            messages.setdefault((check.permission, check.action), check.message)
    return messages


_MESSAGES: Final = _default_messages()


def require(
    held: Mapping[str, Mapping[str, Any] | None],
    permission: str,
    action: str | None,
    product: str | None,
    username: str,
    *,
    message: str | None = None,
) -> None:
    """Raise ``PermissionDenied`` with Balrog's message unless ``is_allowed``.

    ``message`` overrides the template (``{username}``, ``{product}``); without
    it the Balrog message for (permission, action) from ``REQUIRED_PERMISSION``
    is used (for ``permission``/``create`` that is the grant-permissions one;
    ``require_change("role.grant", ...)`` gives the role message).
    """
    if is_allowed(held, permission, action, product):
        return
    template = message or _MESSAGES.get(
        (permission, action or ""),
        "{username} is not allowed to {action} {permission} for product {product}",
    )
    raise PermissionDenied(
        template.format(username=username, product=product, action=action, permission=permission),
        username=username,
        permission=permission,
        action=action,
        product=product,
    )


def checks_for(
    change: str, *, current_product: str | None = None, new_product: str | _Unset | None = UNSET
) -> list[tuple[Check, str | None]]:
    """The (check, product) pairs Balrog evaluates for ``change``, in order.

    ``new_product`` is the product of a row being created, or the product a
    modification sets; leave it ``UNSET`` when a modification does not touch
    the product (then the ``"new"`` check is skipped, as in Balrog). For a
    creation ``UNSET`` means ``None`` (a rule for all products).
    """
    if change not in REQUIRED_PERMISSION:
        raise KeyError(f"unknown change kind {change!r}")
    creating = change.endswith(".create")
    pairs: list[tuple[Check, str | None]] = []
    for check in REQUIRED_PERMISSION[change]:
        if check.product == "current":
            pairs.append((check, current_product))
        elif check.product == "new":
            if new_product is UNSET and not creating:
                continue
            pairs.append((check, None if new_product is UNSET else new_product))
        else:
            pairs.append((check, None))
    return pairs


def require_change(
    held: Mapping[str, Mapping[str, Any] | None],
    change: str,
    username: str,
    *,
    current_product: str | None = None,
    new_product: str | _Unset | None = UNSET,
) -> None:
    """Run every check of ``REQUIRED_PERMISSION[change]`` as Balrog orders them."""
    for check, product in checks_for(
        change, current_product=current_product, new_product=new_product
    ):
        require(held, check.permission, check.action, product, username, message=check.message)


def check_role_grant(held_by_grantee: Mapping[str, Any]) -> None:
    """``Permissions.grantRole``: a role can only go to a user holding some permission."""
    if len(held_by_grantee) < 1:
        raise Invalid("Cannot grant a role to a user without any permissions", field="username")
