"""Reading a live Balrog database through SQLAlchemy (the import's adapter).

Tables are reflected, not declared: whatever Balrog version wrote them, the
columns are read by name. History is streamed, never loaded whole: one
server-side cursor per history table (its own connection, since MySQL cannot
interleave two unbuffered results on one), merged by time; each table is read
in ``change_id`` order, Balrog's own order of its changes. A scheduled
change's history row is read together with its conditions' history row of the
same ``data_version`` (Balrog writes the two in step).
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

from sqlalchemy import MetaData, Table, and_, create_engine, func, select
from sqlalchemy.engine import Engine
from sqlalchemy.engine.url import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError
from sqlalchemy.pool import NullPool

from rulelog.domain.balrog.rows import (
    BASE_TABLES,
    SC_KINDS,
    UNSUPPORTED_PARTS,
    UNSUPPORTED_TABLES,
    HistoryRow,
    keys_of,
)
from rulelog.domain.errors import Invalid

#: Who a row whose history Balrog did not keep is attributed to.
UNKNOWN_ACTOR = "balrog"
#: Rows fetched per round trip from each cursor.
FETCH = 1000


def history_tables() -> list[str]:
    """Every table whose history is imported, in tie-break order for equal times."""
    scheduled = [f"{b}_scheduled_changes" for b in SC_KINDS]
    return [*BASE_TABLES, *scheduled, *[f"{s}_signoffs" for s in scheduled]]


class BalrogSource:
    """A Balrog database, opened read-only in spirit (it is only ever SELECTed)."""

    def __init__(self, url: str) -> None:
        self.url = url
        try:
            safe = make_url(url).render_as_string(hide_password=True)
        except ArgumentError:
            raise Invalid(f"--from: not a database URL: {url!r}", field="from") from None
        self.safe_url = safe
        try:
            # One connection per history table is open at once (see the module docstring).
            self.engine: Engine = create_engine(url, poolclass=NullPool)
            self.metadata = MetaData()
            self.metadata.reflect(self.engine)
        except NoSuchModuleError as error:
            raise Invalid(f"--from: no driver for {safe}: {error}", field="from") from None
        except (SQLAlchemyError, ImportError) as error:
            first = str(error).strip().splitlines()[0] if str(error).strip() else repr(error)
            raise Invalid(f"cannot read the Balrog database at {safe}: {first}") from None
        tables = self.metadata.tables
        missing = [t for t in ("rules", "rules_history", "releases") if t not in tables]
        if missing:
            raise Invalid(f"{safe} is not a Balrog database: no {', '.join(missing)} table")

    def close(self) -> None:
        self.engine.dispose()

    def table(self, name: str) -> Table | None:
        return self.metadata.tables.get(name)

    def has_history(self, table: str) -> bool:
        return f"{table}_history" in self.metadata.tables

    def present_unsupported(self) -> dict[str, int]:
        """Rows in tables rulelog does not keep (reported by the summary as skipped)."""
        out: dict[str, int] = {}
        with self.engine.connect() as conn:
            for name in (*UNSUPPORTED_TABLES, *UNSUPPORTED_PARTS):
                t = self.table(name)
                if t is not None:
                    count = conn.execute(select(func.count()).select_from(t)).scalar_one()
                    if count:
                        out[name] = int(count)
        return out

    # ------------------------------------------------------------- history

    def marks(self) -> dict[str, int]:
        """The highest change_id of every history table (the catch-up's high-water marks)."""
        out: dict[str, int] = {}
        with self.engine.connect() as conn:
            for name in history_tables():
                t = self.table(f"{name}_history")
                if t is not None:
                    out[name] = int(conn.execute(select(func.max(t.c.change_id))).scalar() or 0)
        return out

    def first_ms(self) -> int | None:
        """The earliest time any history table records."""
        times = []
        with self.engine.connect() as conn:
            for name in history_tables():
                t = self.table(f"{name}_history")
                if t is not None:
                    found = conn.execute(select(func.min(t.c.timestamp))).scalar()
                    if found is not None:
                        times.append(int(found))
        return min(times) if times else None

    def _history_query(self, name: str, after: int, until: int | None) -> Any:
        h = self.table(f"{name}_history")
        assert h is not None
        cond = self.table(f"{name}_conditions_history")
        if name.endswith("_scheduled_changes") and cond is not None:
            extra = [
                c
                for c in cond.c
                if c.name not in ("change_id", "changed_by", "timestamp", "sc_id", "data_version")
            ]
            join = h.outerjoin(
                cond, and_(cond.c.sc_id == h.c.sc_id, cond.c.data_version == h.c.data_version)
            )
            query = select(*h.c, *extra).select_from(join)
        else:
            query = select(h)
        query = query.where(h.c.change_id > after)
        if until is not None:
            query = query.where(h.c.change_id <= until)
        return query.order_by(h.c.change_id)

    def count_history(self, since: dict[str, int] | None = None) -> dict[str, int]:
        out: dict[str, int] = {}
        with self.engine.connect() as conn:
            for name in history_tables():
                h = self.table(f"{name}_history")
                if h is not None:
                    after = (since or {}).get(name, 0)
                    out[name] = int(
                        conn.execute(
                            select(func.count()).select_from(h).where(h.c.change_id > after)
                        ).scalar_one()
                    )
        return out

    def history(
        self, since: dict[str, int] | None = None, until: dict[str, int] | None = None
    ) -> Iterator[HistoryRow]:
        """History rows after ``since`` and up to ``until`` (change_id per table), merged
        in time order. ``until`` (the marks taken when the import starts) keeps rows
        Balrog writes meanwhile for the next catch-up, so none is imported twice."""
        ranks = {name: i for i, name in enumerate(history_tables())}
        with ExitStack() as stack:
            streams = []
            for name in history_tables():
                if self.table(f"{name}_history") is None:
                    continue
                conn = stack.enter_context(self.engine.connect())
                result = conn.execution_options(stream_results=True, yield_per=FETCH).execute(
                    self._history_query(name, (since or {}).get(name, 0), (until or {}).get(name))
                )
                streams.append(self._rows(name, ranks[name], result))
            for _key, row in heapq.merge(*streams):
                yield row

    @staticmethod
    def _rows(name: str, rank: int, result: Any) -> Iterator[tuple[tuple, HistoryRow]]:
        seen = -1
        for mapping in result.mappings():
            values = dict(mapping)
            change_id = values.pop("change_id")
            if change_id == seen:  # a duplicated conditions row: the first one stands
                continue
            seen = change_id
            by = values.pop("changed_by")
            ts = int(values.pop("timestamp"))
            yield (ts, rank, change_id), HistoryRow(name, change_id, by, ts, values)

    # ------------------------------------------------------------ current rows

    def _current_query(self, name: str) -> Any:
        t = self.table(name)
        assert t is not None
        cond = self.table(f"{name}_conditions")
        if name.endswith("_scheduled_changes") and cond is not None:
            extra = [c for c in cond.c if c.name not in ("sc_id", "data_version")]
            return select(*t.c, *extra).select_from(t.outerjoin(cond, cond.c.sc_id == t.c.sc_id))
        return select(t)

    def current(self, name: str) -> Iterator[dict[str, Any]]:
        """The current rows of a table (streamed)."""
        if self.table(name) is None:
            return
        with self.engine.connect() as conn:
            result = conn.execution_options(stream_results=True, yield_per=FETCH).execute(
                self._current_query(name)
            )
            for mapping in result.mappings():
                yield dict(mapping)

    def without_history(self, at_ms: int) -> Iterator[HistoryRow]:
        """Current rows Balrog kept no history of, as rows of their earliest known state.

        For tables without a history table (releases in current Balrog, whose
        history lives in cloud storage) that is every current row.
        """
        for name in history_tables():
            t = self.table(name)
            if t is None:
                continue
            h = self.table(f"{name}_history")
            query = self._current_query(name)
            if h is not None:
                keys = keys_of(name)
                known = select(h.c.change_id).where(and_(*[h.c[k] == t.c[k] for k in keys]))
                query = query.where(~known.exists())
            with self.engine.connect() as conn:
                result = conn.execution_options(stream_results=True, yield_per=FETCH).execute(query)
                for mapping in result.mappings():
                    yield HistoryRow(name, None, UNKNOWN_ACTOR, at_ms, dict(mapping))
