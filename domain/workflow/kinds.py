"""The columns that identify a scheduled change's target row, per kind: one definition.

A scheduled change names its target by a key string: the identifying columns'
values joined with ``/`` (``Firefox/release`` for an emergency shutoff). The
admin API shows those columns (``base_*``), a modification re-validates the
row with them, and the audit trail reads products and channels from them; all
three parse the key with ``key_row``.
"""

from __future__ import annotations

from typing import Any

from rulelog.domain.workflow.policies import KEY_COLUMNS as POLICY_KEY_COLUMNS

#: Each kind's identifying columns, in the order its key joins them.
KEY_COLUMNS: dict[str, tuple[str, ...]] = {
    "rules": ("rule_id",),
    "releases": ("name",),
    "emergency_shutoff": ("product", "channel"),
    "pinnable_releases": ("product", "channel", "version"),
    "required_signoffs/product": POLICY_KEY_COLUMNS["product"],
    "required_signoffs/permissions": POLICY_KEY_COLUMNS["permissions"],
    "permissions": ("username", "permission"),
}


def key_row(kind: str, key: str) -> dict[str, Any]:
    """The identifying columns of a target, from the change's target key.

    A rule's key is its id (a new rule's key, ``new:<sc_id>``, names no row); a
    username may hold ``/``, so a permission's key is split at the last one.
    """
    if kind == "rules":
        return {"rule_id": int(key)} if key.isdigit() else {}
    names = KEY_COLUMNS[kind]
    if kind == "permissions":
        return dict(zip(names, key.rpartition("/")[::2], strict=True))
    return dict(zip(names, key.split("/", len(names) - 1), strict=False))
