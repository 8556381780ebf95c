"""Balrog's current rows next to rulelog's folded state: every difference, named.

One comparison serves the import (a history that does not end in the current
row is refused) and ``import-balrog --verify`` (the store against the Balrog
database). Both sides are reduced to the same shape per Balrog table: key ->
the columns rulelog keeps, ``data_version`` included; a release's blob is
compared by digest. Balrog's split (v2) releases are compared assembled, with
every part's data_version, and their pending changes merged per release
(``domain.balrog.v2_releases``), next to ``V2Side``: what the store holds of
them, which the caller reads from the release aggregates (the fold keeps no
blobs, and no per-part versions).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from rulelog.domain.balrog.rows import (
    SC_KINDS,
    base_of,
    permission_options,
    policy_kind,
    release_blob,
    rule_fields,
    sc_condition,
    sc_target_row,
)
from rulelog.domain.balrog.v2_releases import BASE_TABLE, MERGED_SC, comparable
from rulelog.domain.errors import RulelogError
from rulelog.domain.workflow.policies import KEY_COLUMNS
from rulelog.projections.state import Catalog, blob_sha

Key = tuple[Any, ...]
Rows = dict[Key, dict[str, Any]]
#: Balrog tables compared, in report order.
COMPARED = (
    "rules",
    "releases",
    "emergency_shutoffs",
    "pinnable_releases",
    "permissions",
    "user_roles",
    "product_req_signoffs",
    "permissions_req_signoffs",
    *[f"{b}_scheduled_changes" for b in SC_KINDS],
    *[f"{b}_scheduled_changes_signoffs" for b in SC_KINDS],
)
#: Balrog's v2 releases (assembled) and their pending changes (merged per release).
V2_COMPARED = (BASE_TABLE, MERGED_SC)


@dataclass(frozen=True)
class V2Side:
    """The store's side of the v2 comparison: release name -> ``comparable`` (of the
    stored release), and the scheduled release changes made of pending v2 changes
    (rulelog sc_id -> ``{"name": ...}``)."""

    releases: Mapping[str, dict[str, Any]] = field(default_factory=dict)
    scheduled: Mapping[int, Mapping[str, Any]] = field(default_factory=dict)


def _v2_sc(change_type: str, row: Any, condition: Any, signoffs: Any) -> dict[str, Any]:
    return {
        "change_type": change_type,
        "row": _comparable_sc_row(row),
        "condition": condition,
        "signoffs": dict(signoffs),
    }


def balrog_side(table: str, values: Mapping[str, Any]) -> tuple[Key, dict[str, Any]]:
    """A current Balrog row, reduced to what rulelog keeps of it."""
    dv = values.get("data_version")
    if table == BASE_TABLE:
        return (values["name"],), comparable(values, blob_sha(values["data"]))
    if table == MERGED_SC:
        change_type = values["change_type"]
        _target, row = sc_target_row("releases", 0, change_type, values)
        return (values["base_name"],), _v2_sc(
            change_type, row, sc_condition(values), values["signoffs"]
        )
    if table == "rules":
        return (values["rule_id"],), {**rule_fields(values), "data_version": dv}
    if table == "releases":
        name = values["name"]
        return (name,), {
            "product": values["product"],
            "read_only": bool(values.get("read_only") or False),
            "blob_sha": blob_sha(release_blob(values, name)),
            "data_version": dv,
        }
    if table == "emergency_shutoffs":
        key = (values["product"], values["channel"])
        return key, {"comment": values.get("comment"), "data_version": dv}
    if table == "pinnable_releases":
        key = (values["product"], values["channel"], values["version"])
        return key, {"mapping": values["mapping"], "data_version": dv}
    if table == "permissions":
        key = (values["username"], values["permission"])
        return key, {"options": permission_options(values), "data_version": dv}
    if table == "user_roles":
        return (values["username"], values["role"]), {"data_version": dv}
    if table in ("product_req_signoffs", "permissions_req_signoffs"):
        kind = policy_kind(table)
        key = tuple(values[c] for c in KEY_COLUMNS[kind])
        return key, {"signoffs_required": values["signoffs_required"], "data_version": dv}
    kind = SC_KINDS[base_of(table)]
    if table.endswith("_signoffs"):
        return (kind, values["sc_id"], values["username"]), {"role": values["role"]}
    target, row = sc_target_row(base_of(table), values["sc_id"], values["change_type"], values)
    return (kind, values["sc_id"]), {
        "change_type": values["change_type"],
        "target": target,
        "row": _comparable_sc_row(row),
        "condition": sc_condition(values),
        "status": "enacted" if values.get("complete") else "pending",
        "data_version": dv,
    }


def _comparable_sc_row(row: dict[str, Any] | None) -> dict[str, Any] | None:
    if row is not None and isinstance(row.get("data"), dict):
        return {**row, "data": blob_sha(row["data"])}
    return row


def rulelog_side(catalog: Catalog, v2: V2Side | None = None) -> dict[str, Rows]:
    """The folded state (with ended scheduled changes kept), in Balrog's tables."""
    v2 = v2 or V2Side()
    out: dict[str, Rows] = {t: {} for t in (*COMPARED, *V2_COMPARED)}
    for name in v2.releases.keys() & catalog.releases.keys():
        out[BASE_TABLE][(name,)] = dict(v2.releases[name])
    for rule_id, rule in catalog.rules.items():
        out["rules"][(rule_id,)] = {k: v for k, v in rule.items() if k != "rule_id"}
    for name, rel in catalog.releases.items():
        if name in v2.releases:
            continue
        out["releases"][(name,)] = {
            "product": rel["product"],
            "read_only": rel["read_only"],
            "blob_sha": rel["blob_sha"],
            "data_version": rel["data_version"],
        }
    for key, shutoff in catalog.shutoffs.items():
        out["emergency_shutoffs"][key] = {
            "comment": shutoff["comment"],
            "data_version": shutoff["data_version"],
        }
    for key, pin in catalog.pins.items():
        out["pinnable_releases"][key] = {
            "mapping": pin["mapping"],
            "data_version": pin["data_version"],
        }
    for username, user in catalog.users.items():
        for permission, held in user["permissions"].items():
            out["permissions"][(username, permission)] = dict(held)
        for role, held in user["roles"].items():
            out["user_roles"][(username, role)] = {"data_version": held["data_version"]}
    for kind, table in (
        ("product", "product_req_signoffs"),
        ("permissions", "permissions_req_signoffs"),
    ):
        for row in catalog.policies[kind].values():
            key = tuple(row[c] for c in KEY_COLUMNS[kind])
            out[table][key] = {
                "signoffs_required": row["signoffs_required"],
                "data_version": row["data_version"],
            }
    tables = {kind: base for base, kind in SC_KINDS.items()}
    for (kind, sc_id), sc in catalog.scheduled.items():
        if sc["status"] == "cancelled":
            continue  # Balrog deletes a cancelled change's row
        if kind == "releases" and sc_id in v2.scheduled:
            if sc["status"] == "pending":  # Balrog keeps no merged row of ended ones
                out[MERGED_SC][(sc["target"],)] = _v2_sc(
                    sc["change_type"], sc["row"], sc["condition"], sc["signoffs"]
                )
            continue
        table = f"{tables[kind]}_scheduled_changes"
        out[table][(kind, sc_id)] = {
            "change_type": sc["change_type"],
            "target": sc["target"],
            "row": _comparable_sc_row(sc["row"]),
            "condition": sc["condition"],
            "status": sc["status"],
            "data_version": sc["data_version"],
        }
        for username, role in sc["signoffs"].items():
            out[f"{table}_signoffs"][(kind, sc_id, username)] = {"role": role}
    return out


def differences(
    balrog_rows: Iterable[tuple[str, Mapping[str, Any]]], ours: dict[str, Rows]
) -> Iterator[str]:
    """Every difference between Balrog's current rows and rulelog's state, one line each.

    Enacted scheduled changes' signoffs are not compared: Balrog keeps them and
    rulelog's fold of an ended change keeps its last signoffs too, but the
    table-by-table comparison only covers what both keep for pending changes.
    """
    seen: dict[str, set[Key]] = {t: set() for t in (*COMPARED, *V2_COMPARED)}
    for table, values in balrog_rows:
        try:
            key, theirs = balrog_side(table, values)
        except (RulelogError, KeyError) as error:
            yield f"{table} {dict(values)!r}: cannot be read: {error}"
            continue
        seen[table].add(key)
        mine = ours[table].get(key)
        label = f"{table} {_show(key)}"
        if mine is None:
            yield f"{label}: in Balrog, not in rulelog"
            continue
        for column in sorted(set(theirs) | set(mine)):
            if theirs.get(column) != mine.get(column):
                yield (
                    f"{label}: {column}: Balrog {theirs.get(column)!r}, "
                    f"rulelog {mine.get(column)!r}"
                )
    for table in (*COMPARED, *V2_COMPARED):
        for key in sorted(set(ours[table]) - seen[table], key=repr):
            yield f"{table} {_show(key)}: in rulelog, not in Balrog"


def _show(key: Key) -> str:
    return "/".join(str(k) for k in key)
