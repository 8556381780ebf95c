"""The live rules, one row per rule, kept in the event store's database.

``rulelog rules list`` on a store of 100,000 rules spent seconds decoding the
timeline's whole-catalogue checkpoint and pretty-printing every rule. This
projection keeps each live rule as one row: an exact sort key (priority
descending, then rule_id) and the text ``print_json`` writes for that rule as
an element of the list, so a listing is one ordered ``SELECT`` whose rows are
written out as they are, with nothing decoded or encoded.

* ``rulelog_rule_rows``: the rows (``Catalog.rules``' dicts, same fields and
  ``data_version``, see ``state.Catalog._open/_change/_close``);
* ``rulelog_row_projections``: how far the rows go (a table of its own, so a
  timeline rebuild, which empties ``rulelog_projection``, leaves it alone).

A catch-up reads only the rule events after the tracked position and commits
each batch of changed rows with the new position in one transaction; the
tracked position moves from what it read, or the batch fails with
``IntegrityError`` (another process caught up first) and is read again.

Importing this module costs SQLAlchemy Core only: a process that finds the rows
at the head of the log (``RuleRows.behind``, one statement) lists them without
loading the application, the domain or ``eventsourcing``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    BigInteger,
    Column,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    delete,
    insert,
    select,
    update,
)
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError, IntegrityError

if TYPE_CHECKING:
    from eventsourcing.application import Application

NAME = "rule_rows"
#: The application's stored-events table (``eventsourcing_sqlalchemy`` names it
#: after the application, ``RulelogApp.name``); only the cheap head check reads it
#: by name, and a test keeps the two equal.
EVENTS_TABLE = "rulelog_events"
#: Rows read per fetch of a listing.
PAGE_ROWS = 2000
#: Rule events per transaction of a catch-up.
BATCH = 1000
#: Rows per ``IN (...)`` list, under the 999 parameters an old SQLite allows.
_IN_LIST = 500
#: A catch-up that keeps meeting other processes' commits gives up after this many
#: tries (each failure means another process moved the rows on).
_TRIES = 20

metadata = MetaData()
rows_table = Table(
    "rulelog_rule_rows",
    metadata,
    # The rule's aggregate id: Updated and Deleted events name only that.
    Column("originator", String(36), primary_key=True),
    # ``sort_key`` bytes order rows as ``Catalog.sorted_rules`` does, exactly (any size
    # of integer), compared bytewise by SQLite and PostgreSQL alike.
    Column("sort_key", LargeBinary, nullable=False, index=True),
    # The version ``data_version`` counts from (the rule's creation is 1).
    Column("base", BigInteger, nullable=False),
    # ``json.dumps(row, indent=2, default=str)`` indented as an element of a list.
    Column("rendered", Text, nullable=False),
)
tracking_table = Table(
    "rulelog_row_projections",
    metadata,
    Column("name", String(50), primary_key=True),
    Column("position", BigInteger, nullable=False),
)


def _ordered_bytes(number: int) -> bytes:
    """Bytes that compare as the non-negative ``number`` does (length first)."""
    size = (number.bit_length() + 7) // 8
    return size.to_bytes(2, "big") + number.to_bytes(size, "big")


def sort_key(row: dict[str, Any]) -> bytes:
    """``Catalog.sorted_rules``' order, ``(-(priority or 0), rule_id)``, as bytes.

    The priority (sign first, a negative one's magnitude inverted) is inverted as
    a whole, so a plain ascending byte order puts the highest priority first; rule
    ids are positive. Any size of integer keeps its exact place.
    """
    priority = row.get("priority") or 0
    if priority >= 0:
        signed = b"\x01" + _ordered_bytes(priority)
    else:
        signed = b"\x00" + _inverted(_ordered_bytes(-priority))
    return _inverted(signed) + _ordered_bytes(row["rule_id"])


def _inverted(data: bytes) -> bytes:
    return bytes(255 - b for b in data)


def render(row: dict[str, Any]) -> str:
    """The text ``print_json`` writes for ``row`` as an element of a list of rows."""
    return "  " + json.dumps(row, indent=2, default=str).replace("\n", "\n  ")


def listing_text(pages: Iterable[list[str]]) -> Iterator[str]:
    """``print_json(rows)``'s text (without its final newline), a page of rows at a time."""
    first = True
    for page in pages:
        if page:
            yield ("[\n" if first else ",\n") + ",\n".join(page)
            first = False
    yield "[]" if first else "\n]"


class RuleRows:
    """The rule rows of one store, read and kept on ``engine``."""

    def __init__(self, engine: Engine, *, create: bool = True) -> None:
        self.engine = engine
        if create:
            metadata.create_all(engine)
            _start_tracking(engine)

    @classmethod
    def open(cls, url: str) -> RuleRows:
        """On the store at ``url`` without the application (tables are not created)."""
        return cls(create_engine(url), create=False)

    @classmethod
    def of(cls, app: Application) -> RuleRows:
        """On ``app``'s own store engine (one pool), creating the tables if needed."""
        return cls(app.recorder.datastore.engine)  # type: ignore[attr-defined]

    # ------------------------------------------------------------- reading

    def tracked(self) -> int:
        with self.engine.connect() as conn:
            return _tracked(conn)

    def behind(self) -> bool | None:
        """Whether events were stored after the rows' position; None when the
        tables are not there to tell (a new store, or rows never built)."""
        events = Table(EVENTS_TABLE, MetaData(), Column("id", BigInteger))
        position = (
            select(tracking_table.c.position).where(tracking_table.c.name == NAME).scalar_subquery()
        )
        head = select(events.c.id).order_by(events.c.id.desc()).limit(1).scalar_subquery()
        try:
            with self.engine.connect() as conn:
                found = conn.execute(select(head, position)).first()
        except DBAPIError:
            return None
        if found is None or found[1] is None:
            return None
        return (found[0] or 0) > found[1]

    def rendered(self) -> Iterator[list[str]]:
        """The rules' rendered texts in listing order, a page at a time."""
        query = select(rows_table.c.rendered).order_by(rows_table.c.sort_key)
        with self.engine.connect() as conn:
            result = conn.execution_options(yield_per=PAGE_ROWS).execute(query)
            yield from result.scalars().partitions()

    def rows(self) -> list[dict[str, Any]]:
        """The rules as ``Catalog.sorted_rules`` lists them."""
        return [json.loads(text) for page in self.rendered() for text in page]

    # ------------------------------------------------------------- writing

    def catch_up(self, app: Application, progress: Callable[[int], None] | None = None) -> int:
        """Fold the rule events stored after the tracked position; returns the position."""
        from rulelog.projections.log import last_position

        for _ in range(_TRIES):
            try:
                return self._catch_up(app, last_position(app), progress)
            except IntegrityError:
                continue  # another process committed those positions first
        return self.tracked()

    def rebuild(self, app: Application, progress: Callable[[int], None] | None = None) -> int:
        """Forget the rows and fold them again from the whole log."""
        with self.engine.begin() as conn:
            conn.execute(
                update(tracking_table).where(tracking_table.c.name == NAME).values(position=0)
            )
            conn.execute(delete(rows_table))
        return self.catch_up(app, progress)

    def _catch_up(self, app: Application, head: int, progress: Callable[[int], None] | None) -> int:
        from rulelog.domain.catalog.rules import Rule
        from rulelog.projections.log import read_notifications

        position = self.tracked()
        if head <= position:
            return position
        topics = (Rule.Created.TOPIC, Rule.Updated.TOPIC, Rule.Deleted.TOPIC)
        decode = app.mapper.to_domain_event
        batch: list[Any] = []
        for stored in read_notifications(app, start=position + 1, stop=head, topics=topics):
            batch.append(decode(stored))
            if len(batch) >= BATCH:
                position = self._commit(position, stored.id, batch, progress)
                batch = []
        return self._commit(position, head, batch, progress)

    def _commit(
        self,
        expected: int,
        position: int,
        events: list[Any],
        progress: Callable[[int], None] | None,
    ) -> int:
        """Apply ``events`` to their rows and move the tracked position from
        ``expected`` to ``position``, in one transaction."""
        with self.engine.begin() as conn:
            _advance(conn, expected, position)
            _write(conn, _applied(conn, events))
        if progress:
            progress(position - expected)
        return position


def _tracked(conn: Connection) -> int:
    found = conn.execute(
        select(tracking_table.c.position).where(tracking_table.c.name == NAME)
    ).scalar()
    return int(found or 0)


def _advance(conn: Connection, expected: int, position: int) -> None:
    """Move the tracked position, or raise ``IntegrityError`` if it moved meanwhile.

    From position 0 (new rows, or a rebuild) the rows are folded from the start
    of the log, so none is kept from before.
    """
    moved = conn.execute(
        update(tracking_table)
        .where(tracking_table.c.name == NAME, tracking_table.c.position == expected)
        .values(position=position)
    )
    if moved.rowcount != 1:
        raise IntegrityError("rule rows moved meanwhile", None, Exception("concurrent catch-up"))
    if expected == 0:
        conn.execute(delete(rows_table))


def _start_tracking(engine: Engine) -> None:
    """The tracking row at position 0, unless it is there (a process that meets
    another doing the same finds it there)."""
    try:
        with engine.begin() as conn:
            if (
                conn.execute(
                    select(tracking_table.c.name).where(tracking_table.c.name == NAME)
                ).first()
                is None
            ):
                conn.execute(insert(tracking_table), {"name": NAME, "position": 0})
    except IntegrityError:
        pass


#: An originator's row after a batch (None: deleted) and the version its
#: data_version counts from.
_Rows = dict[str, tuple[dict[str, Any], int] | None]


def _applied(conn: Connection, events: list[Any]) -> _Rows:
    """The rows ``events`` touch, as they are after them (``Catalog``'s handlers:
    Created opens a row at data_version 1, Updated merges its changes, Deleted
    closes it for good)."""
    from rulelog.domain.catalog.rules import Rule

    created = {str(ev.originator_id) for ev in events if isinstance(ev, Rule.Created)}
    rows: _Rows = _load(conn, {str(ev.originator_id) for ev in events} - created)
    for ev in events:
        key = str(ev.originator_id)
        if isinstance(ev, Rule.Created):
            row = {"rule_id": ev.rule_id, **ev.fields, "data_version": 1}
            rows[key] = (row, ev.originator_version - 1)
        elif isinstance(ev, Rule.Updated):
            row, base = rows[key]  # type: ignore[misc]
            row.update(ev.changes)
            row["data_version"] = ev.originator_version - base
        else:
            rows[key] = None
    return rows


def _chunks(keys: Iterable[str]) -> Iterator[list[str]]:
    ordered = sorted(keys)
    for start in range(0, len(ordered), _IN_LIST):
        yield ordered[start : start + _IN_LIST]


def _load(conn: Connection, originators: set[str]) -> _Rows:
    rows: _Rows = {}
    for part in _chunks(originators):
        query = select(rows_table.c.originator, rows_table.c.base, rows_table.c.rendered).where(
            rows_table.c.originator.in_(part)
        )
        for originator, base, text in conn.execute(query):
            rows[originator] = (json.loads(text), base)
    return rows


def _write(conn: Connection, rows: _Rows) -> None:
    for part in _chunks(rows):
        conn.execute(delete(rows_table).where(rows_table.c.originator.in_(part)))
    live = [
        {"originator": key, "sort_key": sort_key(row), "base": base, "rendered": render(row)}
        for key, kept in rows.items()
        if kept is not None
        for row, base in [kept]
    ]
    if live:
        conn.execute(insert(rows_table), live)
