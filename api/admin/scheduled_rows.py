"""Scheduled changes as Balrog's admin API shows them, from the catalogue.

Balrog keeps a scheduled change as a row of ``<table>_scheduled_changes``:
its own columns (``sc_id``, ``scheduled_by``, ``complete``, ``change_type``,
``data_version`` -- shown as ``sc_data_version``), a copy of every column of
the target table (``base_*``, shown unprefixed, the target's ``data_version``
as ``data_version``) and its conditions (``when`` in milliseconds, plus the
``telemetry_*`` columns for rules, the only table with uptake conditions).
A pending change also shows the signoffs it needs, computed from the
policies *now*, as Balrog does on every read. Cancelled changes are deleted
in Balrog, so they are shown nowhere.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from rulelog.domain.catalog.rule_fields import RULE_FIELDS
from rulelog.domain.workflow.kinds import KEY_COLUMNS, key_row
from rulelog.domain.workflow.scheduling import parse_when
from rulelog.domain.workflow.signoff_rules import reduce_requirements
from rulelog.projections.expectations import failing_by_change
from rulelog.projections.sc_revisions import ScRevision
from rulelog.projections.state import Catalog
from rulelog.services.targets import ABSENT, target_for

#: Each kind's target columns, in Balrog's table order.
COLUMNS: dict[str, tuple[str, ...]] = {
    "rules": RULE_FIELDS,
    "releases": ("name", "product", "read_only", "data"),
    "permissions": ("permission", "username", "options"),
    "emergency_shutoff": ("product", "channel", "comment"),
    "pinnable_releases": ("product", "version", "channel", "mapping"),
    "required_signoffs/product": (*KEY_COLUMNS["required_signoffs/product"], "signoffs_required"),
    "required_signoffs/permissions": (
        *KEY_COLUMNS["required_signoffs/permissions"],
        "signoffs_required",
    ),
}
UPTAKE_COLUMNS = ("telemetry_product", "telemetry_channel", "telemetry_uptake")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def condition_columns(kind: str) -> tuple[str, ...]:
    """Balrog's conditions table columns for this kind (uptake only exists for rules)."""
    return ("when", *UPTAKE_COLUMNS) if kind == "rules" else ("when",)


def when_millis(value: Any) -> int | None:
    """A stored ``when`` as Balrog's milliseconds since the epoch."""
    if not value:
        return None
    return (parse_when(value) - EPOCH) // timedelta(milliseconds=1)


def target_columns(sc: dict[str, Any]) -> dict[str, Any]:
    """The ``base_*`` columns: the new row, or only the key for a deletion."""
    kind = sc["kind"]
    source = dict(sc.get("row") or {})
    if sc["change_type"] != "insert":
        source = {**source, **key_row(kind, sc["target"])}
    columns = {name: source.get(name) for name in COLUMNS[kind]}
    if kind == "releases" and columns["read_only"] is None:
        columns["read_only"] = False  # Balrog's column default
    return columns


def base_row(sc: dict[str, Any]) -> dict[str, Any]:
    """The row as Balrog stores it, without signoffs: for listings and revisions."""
    condition = sc.get("condition") or {}
    conditions = {name: condition.get(name) for name in condition_columns(sc["kind"])}
    conditions["when"] = when_millis(condition.get("when"))
    return {
        "sc_id": sc["sc_id"],
        "scheduled_by": sc["scheduled_by"],
        "complete": sc["status"] == "enacted",
        "change_type": sc["change_type"],
        "sc_data_version": sc["data_version"],
        **target_columns(sc),
        "data_version": sc.get("base_data_version"),
        **conditions,
    }


def required_now(service: Any, catalog: Catalog, sc: dict[str, Any]) -> dict[str, int]:
    """``required_signoffs`` of a pending change: role -> count, from today's policies."""
    if sc["status"] != "pending":
        return {}
    target = target_for(sc["kind"])
    current = target.current(service, sc["target"]) if sc["change_type"] != "insert" else ABSENT
    reqs = reduce_requirements(target.required(service, current, sc.get("row")))
    required = {r.role: r.signoffs_required for r in reqs}
    if sc["kind"] == "releases" and not required:
        required = _read_only_release_requirements(catalog, sc)
    return required


def _read_only_release_requirements(catalog: Catalog, sc: dict[str, Any]) -> dict[str, int]:
    """Balrog shows what unlocking a read-only release needs on a change that unlocks it:
    every policy of the release's product, whatever its channel."""
    row = sc.get("row") or {}
    live = catalog.releases.get(sc["target"])
    if sc["change_type"] != "update" or row.get("read_only") or not (live or {}).get("read_only"):
        return {}
    found: dict[str, int] = {}
    for policy in catalog.policies["product"].values():
        if policy["product"] == row.get("product"):
            role, count = policy["role"], int(policy["signoffs_required"])
            found[role] = max(found.get(role, 0), count)
    return found


def shown(service: Any, catalog: Catalog, sc: dict[str, Any]) -> dict[str, Any]:
    """One scheduled change as Balrog's GET routes answer it."""
    return {
        **base_row(sc),
        "signoffs": dict(sc.get("signoffs") or {}),
        "required_signoffs": required_now(service, catalog, sc),
    }


def listed(catalog: Catalog, kind: str, include_complete: bool) -> list[dict[str, Any]]:
    """The catalogue rows of ``kind`` Balrog would list, by sc_id."""
    rows = [
        sc
        for (k, _), sc in catalog.scheduled.items()
        if k == kind
        and (sc["status"] == "pending" or (include_complete and sc["status"] == "enacted"))
    ]
    return sorted(rows, key=lambda sc: sc["sc_id"])


def add_failing_expectations(
    service: Any, catalog: Catalog, kind: str, rows: list[dict[str, Any]]
) -> None:
    """``?expectations`` (rulelog's, not Balrog's): each pending row also names the
    expectations the change makes fail on its test view, as the console shows them."""
    failing = failing_by_change(service, catalog)
    for row in rows:
        if not row.get("complete"):
            row["expectations_failing"] = failing.get((kind, row["sc_id"]), [])


def visible(catalog: Catalog, kind: str, sc_id: int) -> dict[str, Any] | None:
    """A change Balrog still has a row for: pending or enacted (cancelled ones are deleted)."""
    sc = catalog.scheduled.get((kind, sc_id))
    return sc if sc is not None and sc["status"] != "cancelled" else None


def revision_row(revision: ScRevision) -> dict[str, Any]:
    """One revision as Balrog's revisions routes list it."""
    return {
        **base_row(revision.state),
        "change_id": revision.change_id,
        "changed_by": revision.changed_by,
        "timestamp": revision.timestamp,
    }


def matches(sc: dict[str, Any], filters: dict[str, Any]) -> bool:
    """Balrog's listing filters (``rule_id``, ``name``, ``product``, ...) on base columns."""
    columns = target_columns(sc)
    return all(str(columns.get(name)) == str(value) for name, value in filters.items())


__all__ = [
    "COLUMNS",
    "base_row",
    "condition_columns",
    "key_row",
    "listed",
    "matches",
    "required_now",
    "revision_row",
    "shown",
    "target_columns",
    "visible",
    "when_millis",
]
