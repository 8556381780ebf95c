"""What Balrog answers, computed straight from its tables: its rules at a time
(from ``rules_history``) and its v2 releases (from ``releases_json`` and
``release_assets``).

Rules as ``HistoryTable.getPointInTime``: per rule, the history row with the highest
``change_id`` among those with ``timestamp <= T``; rows holding nothing but the
key (a deletion, or the mark before an insert) are left out.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from sqlalchemy import Engine, MetaData, func, select

NOT_DATA = ("change_id", "changed_by", "timestamp", "rule_id")


def balrog_rules_at(
    engine: Engine, timestamp: int, *, whole_rows: bool = False
) -> dict[int, dict[str, Any]]:
    """rule_id -> the rule's columns (``data_version`` included) at ``timestamp`` (ms);
    ``whole_rows`` keeps the history columns (what Balrog's API answers)."""
    metadata = MetaData()
    metadata.reflect(engine, only=["rules_history"])
    h = metadata.tables["rules_history"]
    latest = (
        select(func.max(h.c.change_id))
        .where(h.c.timestamp <= timestamp)
        .group_by(h.c.rule_id)
    )
    with engine.connect() as conn:
        rows = conn.execute(select(h).where(h.c.change_id.in_(latest))).mappings().all()
    out = {}
    for row in rows:
        data = {k: v for k, v in row.items() if k not in NOT_DATA}
        if any(v is not None for v in data.values()):
            out[row["rule_id"]] = dict(row) if whole_rows else data
    return out


def rule_times(engine: Engine) -> list[int]:
    """Every time Balrog recorded a rules change, in order."""
    metadata = MetaData()
    metadata.reflect(engine, only=["rules_history"])
    h = metadata.tables["rules_history"]
    with engine.connect() as conn:
        found = conn.execute(select(h.c.timestamp).distinct().order_by(h.c.timestamp))
        return [int(t) for (t,) in found]


def comparable(rule: dict[str, Any]) -> dict[str, Any]:
    """A rule as both sides show it: flags as booleans, without history columns."""
    out = {k: v for k, v in rule.items() if k not in NOT_DATA}
    for flag in ("jaws", "mig64"):
        if out.get(flag) is not None:
            out[flag] = bool(out[flag])
    return out


def balrog_v2_release(engine: Engine, name: str) -> dict[str, Any] | None:
    """What Balrog's ``services.releases.get_release(name, include_sc=False)`` answers,
    straight from ``releases_json`` and ``release_assets``: the base's blob with each
    asset's data at its path, and every part's data_version."""
    metadata = MetaData()
    metadata.reflect(engine, only=["releases_json", "release_assets"])
    base_t, assets_t = metadata.tables["releases_json"], metadata.tables["release_assets"]
    with engine.connect() as conn:
        base = conn.execute(select(base_t).where(base_t.c.name == name)).mappings().first()
        assets = conn.execute(
            select(assets_t).where(assets_t.c.name == name).order_by(assets_t.c.path)
        ).mappings().all()
    if base is None:
        return None
    blob = _json(base["data"])
    versions: dict[str, Any] = {".": base["data_version"]}
    for asset in assets:
        *steps, last = asset["path"].split(".")[1:]
        node, dv = blob, versions
        for step in steps:
            node, dv = node.setdefault(step, {}), dv.setdefault(step, {})
        node[last], dv[last] = _json(asset["data"]), asset["data_version"]
    return {"blob": blob, "data_versions": versions, "product": base["product"]}


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str | bytes) else copy.deepcopy(value)
