"""Reading Balrog's split (admin API v2) release tables (the import's adapter).

``releases_json`` and ``release_assets`` are read in name order on two
connections and joined as they stream, so a release is assembled
(``domain.balrog.v2_releases.assemble``) without loading the tables whole.
Scheduled changes are read from the current rows (with their conditions and
signoffs): only the pending ones are imported, merged per release.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from typing import Any

from sqlalchemy import JSON, Table, Text, func, select, type_coerce

from rulelog.adapters.balrog_source import FETCH, UNKNOWN_ACTOR, BalrogSource
from rulelog.domain.balrog.rows import HistoryRow
from rulelog.domain.balrog.v2_releases import (
    ASSETS_TABLE,
    BASE_TABLE,
    MERGED_SC,
    SC_TABLES,
    assemble,
    merge_pending,
)


class BalrogV2Source:
    """The v2 release tables of a ``BalrogSource`` (absent tables read as empty)."""

    def __init__(self, source: BalrogSource) -> None:
        self.source = source
        #: what reading found and could not import, by reason (for the summary)
        self.skipped: dict[str, int] = defaultdict(int)
        #: what merging pending changes had to decide, one line each
        self.notes: list[str] = []

    @property
    def present(self) -> bool:
        return self.source.table(BASE_TABLE) is not None

    def names(self) -> set[str]:
        t = self.source.table(BASE_TABLE)
        if t is None:
            return set()
        with self.source.engine.connect() as conn:
            return {str(n) for n in conn.execute(select(t.c.name)).scalars()}

    def releases(self) -> Iterator[dict[str, Any]]:
        """Every v2 release, assembled, in name order (bases streamed, each one's
        assets read on a second connection: MySQL cannot interleave two streams
        on one, and its collation need not order names as Python does)."""
        base, assets = self.source.table(BASE_TABLE), self.source.table(ASSETS_TABLE)
        if base is None:
            return
        with self.source.engine.connect() as rows, self.source.engine.connect() as parts:
            if assets is not None:
                orphans = select(func.count()).where(~assets.c.name.in_(select(base.c.name)))
                found = int(parts.execute(orphans).scalar_one())
                if found:
                    self.skipped[f"{ASSETS_TABLE}: assets of no releases_json row"] = found
            result = rows.execution_options(stream_results=True, yield_per=FETCH).execute(
                _as_text(base).order_by(base.c.name)
            )
            for mapping in result.mappings():
                mine: list[dict[str, Any]] = []
                if assets is not None:
                    query = _as_text(assets).where(assets.c.name == mapping["name"])
                    found_parts = parts.execute(query.order_by(assets.c.path)).mappings()
                    mine = [dict(m) for m in found_parts]
                yield assemble(dict(mapping), mine)

    def release_rows(self, at_ms: int) -> Iterator[HistoryRow]:
        """The releases as rows of their earliest known state (their history is elsewhere)."""
        for values in self.releases():
            yield HistoryRow(BASE_TABLE, None, UNKNOWN_ACTOR, at_ms, values)

    def pending(self) -> list[dict[str, Any]]:
        """The pending v2 changes merged per release (``merge_pending``), by name.
        Ended ones are counted as skipped: what they did is in the current rows."""
        scs: dict[str, list[tuple[str, dict[str, Any]]]] = defaultdict(list)
        for table in SC_TABLES:
            for values in self.source.current(table):
                if values.get("complete"):
                    self.skipped[f"{table}: ended (their effect is in the releases)"] += 1
                else:
                    scs[str(values["base_name"])].append((table, values))
        if not scs:
            return []
        signoffs: dict[tuple[str, int], dict[str, str]] = defaultdict(dict)
        for table in SC_TABLES:
            for values in self.source.current(f"{table}_signoffs"):
                signoffs[(table, int(values["sc_id"]))][values["username"]] = values["role"]
        current = {v["name"]: v for v in self.releases() if v["name"] in scs}
        merged = []
        for name in sorted(scs):
            base = next((v for t, v in scs[name] if t == SC_TABLES[0]), None)
            assets = sorted(
                (v for t, v in scs[name] if t == SC_TABLES[1]), key=lambda v: str(v["base_path"])
            )
            values, notes = merge_pending(name, current.get(name), base, assets, signoffs)
            self.notes += notes
            if values is None:
                self.skipped[f"{MERGED_SC}: pending v2 changes that cannot be merged"] += 1
            else:
                merged.append(values)
        return merged

    def pending_rows(self, at_ms: int) -> Iterator[HistoryRow]:
        for values in self.pending():
            yield HistoryRow(MERGED_SC, None, str(values["scheduled_by"]), at_ms, values)

    def count(self, table: str) -> int:
        t = self.source.table(table)
        if t is None:
            return 0
        with self.source.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(t)).scalar_one())


def _as_text(table: Table) -> Any:
    """SELECT of ``table`` with JSON columns as the text stored (``assemble`` parses
    it, so a bad value is named with its row rather than failing in the driver)."""
    return select(
        *[type_coerce(c, Text).label(c.name) if isinstance(c.type, JSON) else c for c in table.c]
    )
