"""The links between rules and releases every kind that names a release keeps.

A rule's ``mapping`` / ``fallbackMapping`` and a pin's ``mapping`` must name a
live release, and a release's usage index (``ReleaseUsage``) lists the rules
that map to it, so the release cannot be deleted under them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rulelog.domain import ids
from rulelog.domain.catalog.releases import Release, ReleaseUsage
from rulelog.domain.catalog.rules import Rule
from rulelog.domain.errors import Invalid

if TYPE_CHECKING:
    from rulelog.services.app_base import AppBase


def usage(app: AppBase, name: str) -> ReleaseUsage:
    """The usage index of release ``name`` (made on first use)."""
    return app.find_or_create(
        ids.release_usage_id(name), ReleaseUsage, lambda: ReleaseUsage(name=name)
    )


def require_release(app: AppBase, name: str, field: str) -> Release:
    release = app.find(ids.release_id(name), Release)
    if release is None or release.deleted:
        raise Invalid(f"{field}: no release named {name}", field=field, release=name)
    return release


def rule_row(rule: Rule) -> dict[str, Any]:
    return {"rule_id": rule.rule_id, **rule.fields}


def rules_mapping(app: AppBase, name: str) -> list[dict[str, Any]]:
    """The live rules that name ``name`` as mapping or fallbackMapping."""
    index = app.find(ids.release_usage_id(name), ReleaseUsage)
    rows = []
    for ref in sorted(index.refs) if index else []:
        rule = app.find(ids.rule_id(int(ref.split()[1])), Rule)
        if rule is not None and not rule.deleted:
            rows.append(rule_row(rule))
    return rows
