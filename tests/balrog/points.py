"""What Balrog answers for its rules at a time, computed straight from ``rules_history``.

As ``HistoryTable.getPointInTime``: per rule, the history row with the highest
``change_id`` among those with ``timestamp <= T``; rows holding nothing but the
key (a deletion, or the mark before an insert) are left out.
"""

from __future__ import annotations

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
