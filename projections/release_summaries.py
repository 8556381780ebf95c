"""Releases as Balrog's ``getReleaseInfo`` lists them: each with the rules mapping to it.

Both servers list releases this way (the admin API's ``/api/releases``, the
public ``/api/v1/releases``), each from its own read model: this is the one
place that says which rules a release lists and how.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["release_summary", "rules_by_release"]


def rules_by_release(
    rules: Iterable[Mapping[str, Any]],
) -> dict[str, list[Mapping[str, Any]]]:
    """The rules naming each release (as mapping or fallbackMapping), by rule_id."""
    mapped: dict[str, list[Mapping[str, Any]]] = {}
    for rule in sorted(rules, key=lambda r: r["rule_id"]):
        for name in dict.fromkeys((rule.get("mapping"), rule.get("fallbackMapping"))):
            if name:
                mapped.setdefault(name, []).append(rule)
    return mapped


def release_summary(
    name: str, row: Mapping[str, Any], rules: Iterable[Mapping[str, Any]]
) -> dict[str, Any]:
    """A release row's listed columns, ``rules`` (those mapping to it) included."""
    rules = list(rules)
    return {
        "name": name,
        "product": row["product"],
        "data_version": row["data_version"],
        "read_only": row["read_only"],
        "rule_ids": [r["rule_id"] for r in rules],
        "rule_info": {
            str(r["rule_id"]): {"product": r.get("product"), "channel": r.get("channel")}
            for r in rules
        },
    }
