"""Balrog's listings (rules, releases), one row per live row, kept in the store's database.

``rulelog rules list`` on a store of 100,000 rules spent seconds decoding the
timeline's whole-catalogue checkpoint and pretty-printing every rule. This
projection keeps each live rule (and each release) as one row: an exact sort
key (the listing's order) and the text ``print_json`` writes for it as an
element of the list, so a listing is one ordered ``SELECT`` whose rows are
written out as they are, with nothing decoded or encoded.

* ``rulelog_listing_rows``: the rows of each listing (``Kind``): a rule is the
  dict ``Catalog.rules`` holds, a release what ``release_summary`` shows of
  ``Catalog.releases``' row; same fields, same ``data_version`` (see
  ``state.Catalog._open/_change/_close`` and ``state_events.HANDLERS``);
* ``rulelog_listing_positions``: how far each listing goes (a table of its own,
  so a timeline rebuild, which empties ``rulelog_projection``, leaves it alone).

A catch-up reads only its kind's events after the tracked position and commits
each batch of changed rows with the new position in one transaction; the
tracked position moves from what it read, or the batch fails with
``IntegrityError`` (another process caught up first) and is read again.

Importing this module costs SQLAlchemy Core only: a process that finds the rows
at the head of the log (``Listing.behind``, one statement) lists them without
loading the application, the domain or ``eventsourcing``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from uuid import UUID

from sqlalchemy import (
    BigInteger,
    Column,
    Index,
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

from rulelog.projections.clearing import without_secure_delete
from rulelog.projections.listing_file import EVENTS_TABLE, POSITIONS_TABLE, ROWS_TABLE
from rulelog.projections.listing_text import PAGE_ROWS, pages_of, render
from rulelog.projections.read_only import (
    ensure_tables,
    mark_refusing,
    note_fallback,
    refused,
    refuses_writes,
)

if TYPE_CHECKING:
    from eventsourcing.application import Application

    from rulelog.projections.state import Catalog

#: Events per transaction of a catch-up (a commit costs a disk flush).
BATCH = 5000
#: Rows per ``IN (...)`` list, under the 999 parameters an old SQLite allows.
_IN_LIST = 500
#: A catch-up that keeps meeting other processes' commits gives up after this many
#: tries (each failure means another process moved the rows on).
_TRIES = 20

metadata = MetaData()
rows_table = Table(
    ROWS_TABLE,
    metadata,
    Column("kind", String(20), primary_key=True),
    # The row's aggregate id: most events name only that.
    Column("originator", String(36), primary_key=True),
    # Bytes in the listing's order, compared bytewise by SQLite and PostgreSQL alike.
    Column("sort_key", LargeBinary, nullable=False),
    # The version ``data_version`` counts from (the row's (re)creation is 1).
    Column("base", BigInteger, nullable=False),
    # ``json.dumps(row, indent=2, default=str)`` indented as an element of a list.
    Column("rendered", Text, nullable=False),
    Index("rulelog_listing_rows_order", "kind", "sort_key"),
)
tracking_table = Table(
    POSITIONS_TABLE,
    metadata,
    Column("kind", String(20), primary_key=True),
    Column("position", BigInteger, nullable=False),
)

#: An originator's row after some events (None: deleted, or never there) and the
#: version its data_version counts from.
_Rows = dict[str, tuple[dict[str, Any], int] | None]


@dataclass(frozen=True)
class Kind:
    """One listing: the events that change it, how they do, and its order."""

    name: str
    #: The stored topics of those events (imported only when a catch-up runs).
    topics: Callable[[], tuple[str, ...]]
    #: Applies one decoded event to the rows it touches (all loaded beforehand).
    fold: Callable[[_Rows, Any], None]
    sort_key: Callable[[dict[str, Any]], bytes]
    #: Every live row of a whole state, as (originator, row, base): a rebuild
    #: writes them from the timeline's fold instead of folding the log again.
    of_state: Callable[[Catalog], Iterator[tuple[str, dict[str, Any], int]]]


def _ordered_bytes(number: int) -> bytes:
    """Bytes that compare as the non-negative ``number`` does (length first)."""
    size = (number.bit_length() + 7) // 8
    return size.to_bytes(2, "big") + number.to_bytes(size, "big")


def rule_order(row: dict[str, Any]) -> bytes:
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


def release_order(row: dict[str, Any]) -> bytes:
    """``sorted(catalog.releases)``: names by code point, as their UTF-8 bytes are."""
    return row["name"].encode("utf-8", "surrogatepass")


def _rule_topics() -> tuple[str, ...]:
    from rulelog.domain.catalog.rules import Rule

    return (Rule.Created.TOPIC, Rule.Updated.TOPIC, Rule.Deleted.TOPIC)


def _release_topics() -> tuple[str, ...]:
    from rulelog.domain.catalog.releases import Release

    events = (Release.Created, Release.Recreated, Release.BlobReplaced, Release.PartsChanged)
    return tuple(e.TOPIC for e in (*events, Release.ReadOnlyChanged, Release.Deleted))


def _changed(rows: _Rows, ev: Any, changes: dict[str, Any]) -> None:
    """``Catalog._change``: the changes merged, data_version counted from the base."""
    row, base = rows[str(ev.originator_id)]  # type: ignore[misc]
    row.update(changes)
    row["data_version"] = ev.originator_version - base


def _fold_rule(rows: _Rows, ev: Any) -> None:
    """``HANDLERS`` of the rule events: a deleted rule never returns."""
    from rulelog.domain.catalog.rules import Rule

    if isinstance(ev, Rule.Created):
        row = {"rule_id": ev.rule_id, **ev.fields, "data_version": 1}
        rows[str(ev.originator_id)] = (row, ev.originator_version - 1)
    elif isinstance(ev, Rule.Updated):
        _changed(rows, ev, ev.changes)
    else:
        rows[str(ev.originator_id)] = None


def _fold_release(rows: _Rows, ev: Any) -> None:
    """``HANDLERS`` of the release events, as far as ``release_summary`` shows them.

    A release recreated after its deletion names itself in its blob (as
    ``state._forgotten_release`` recovers it); a v2 write to a release that is
    not live changes nothing (``state_events._parts_changed``).
    """
    from rulelog.domain.catalog.releases import Release

    key = str(ev.originator_id)
    kept = rows.get(key)
    if isinstance(ev, Release.Created | Release.Recreated):
        name = ev.name if isinstance(ev, Release.Created) else None
        name = name or (kept[0]["name"] if kept else ev.blob.get("name"))
        row = {"name": name, "product": ev.product, "read_only": ev.read_only}
        rows[key] = ({**row, "data_version": 1}, ev.originator_version - 1)
    elif isinstance(ev, Release.ReadOnlyChanged):
        _changed(rows, ev, {"read_only": ev.read_only})
    elif isinstance(ev, Release.Deleted):
        rows[key] = None
    elif kept is not None or isinstance(ev, Release.BlobReplaced):
        _changed(rows, ev, {"product": ev.product})


def _rules_of(state: Catalog) -> Iterator[tuple[str, dict[str, Any], int]]:
    for originator, key, base in state.streams_of("rules"):
        yield str(UUID(int=originator)), state.rules[key], base


def _releases_of(state: Catalog) -> Iterator[tuple[str, dict[str, Any], int]]:
    """``release_summary``'s fields, in the order ``_fold_release`` makes them."""
    for originator, name, base in state.streams_of("releases"):
        row = state.releases[name]
        shown = {"name": name, "product": row["product"], "read_only": row["read_only"]}
        yield str(UUID(int=originator)), {**shown, "data_version": row["data_version"]}, base


RULES = Kind("rules", _rule_topics, _fold_rule, rule_order, _rules_of)
RELEASES = Kind("releases", _release_topics, _fold_release, release_order, _releases_of)
KINDS = (RULES, RELEASES)


class Listing:
    """One listing's rows in one store, read and kept on ``engine``."""

    def __init__(self, engine: Engine, kind: Kind, *, create: bool = True) -> None:
        self.engine = engine
        self.kind = kind
        #: Tables the database would not let this process create: read as empty.
        self.absent: frozenset[str] = frozenset()
        #: The rows folded in memory where the database refuses to store them
        #: (None: the table's rows are the listing).
        self._memory: _Rows | None = None
        if create:
            self.absent = ensure_tables(engine, metadata, self._projection)
            if not self.absent:
                _start_tracking(engine, kind)

    @property
    def _projection(self) -> str:
        return f"listing.{self.kind.name}"

    @classmethod
    def open(cls, url: str, kind: Kind) -> Listing:
        """On the store at ``url`` without the application (tables are not created)."""
        return cls(create_engine(url), kind, create=False)

    @classmethod
    def of(cls, app: Application, kind: Kind) -> Listing:
        """On ``app``'s own store engine (one pool), creating the tables if needed."""
        return cls(app.recorder.datastore.engine, kind)  # type: ignore[attr-defined]

    # ------------------------------------------------------------- reading

    def tracked(self) -> int:
        if self.absent:
            return 0
        with self.engine.connect() as conn:
            return _tracked(conn, self.kind)

    def behind(self) -> bool | None:
        """Whether events were stored after the rows' position; None when the
        tables are not there to tell (a new store, or rows never built)."""
        events = Table(EVENTS_TABLE, MetaData(), Column("id", BigInteger))
        head = select(events.c.id).order_by(events.c.id.desc()).limit(1).scalar_subquery()
        try:
            with self.engine.connect() as conn:
                found = conn.execute(select(head, _position(self.kind).scalar_subquery())).first()
        except DBAPIError:
            return None
        if found is None or found[1] is None:
            return None
        return (found[0] or 0) > found[1]

    def rendered(self) -> Iterator[list[str]]:
        """The rows' rendered texts in listing order, a page at a time."""
        if self._memory is not None:
            yield from pages_of(self._memory, self.kind.sort_key)
            return
        query = (
            select(rows_table.c.rendered)
            .where(rows_table.c.kind == self.kind.name)
            .order_by(rows_table.c.sort_key)
        )
        with self.engine.connect() as conn:
            result = conn.execution_options(yield_per=PAGE_ROWS).execute(query)
            yield from result.scalars().partitions()

    def encoded(self) -> Iterator[list[bytes]]:
        """``rendered`` as bytes, as ``listing_file`` reads them (the texts are ASCII)."""
        for page in self.rendered():
            yield [text.encode("ascii") for text in page]

    def rows(self) -> list[dict[str, Any]]:
        """The rows as the listing shows them, in its order."""
        return [json.loads(text) for page in self.rendered() for text in page]

    # ------------------------------------------------------------- writing

    def catch_up(self, app: Application, progress: Callable[[int], None] | None = None) -> int:
        """Fold the events stored after the tracked position; returns the position."""
        from rulelog.projections.log import last_position

        for _ in range(_TRIES):
            head = last_position(app)
            try:
                return self._catch_up(app, head, progress)
            except IntegrityError:
                continue  # another process committed those positions first
            except DBAPIError as error:
                if not refused(error):
                    raise
                mark_refusing(self.engine)
                return self._fold_in_memory(app, head)
        return self.tracked()

    def _refuses_writes(self) -> bool:
        """Whether the database refuses to store the rows (asked once per engine)."""
        mine = tracking_table.c.kind == self.kind.name
        nothing = update(tracking_table).where(mine, tracking_table.c.position < 0)
        return bool(self.absent) or refuses_writes(self.engine, nothing.values(position=0))

    def _fold_in_memory(self, app: Application, head: int) -> int:
        """The rows at ``head`` without writing, kept in memory for ``rendered``."""
        from rulelog.projections.listing_unstored import folded_in_memory

        position = self.tracked()
        note_fallback(self._projection, stored=position, head=head)
        self._memory = folded_in_memory(self, app, position, head)
        return head

    def rebuild(self, app: Application, progress: Callable[[int], None] | None = None) -> int:
        """Forget the rows and fold them again from the whole log."""
        with self.engine.begin() as conn, without_secure_delete(conn):
            conn.execute(
                update(tracking_table)
                .where(tracking_table.c.kind == self.kind.name)
                .values(position=0)
            )
            conn.execute(delete(rows_table).where(rows_table.c.kind == self.kind.name))
        return self.catch_up(app, progress)

    def replace(self, state: Catalog) -> int:
        """Make the rows those of ``state`` (a whole catalogue at its position), in
        one transaction; returns the position.

        ``projections rebuild`` folds the whole log into the timeline already:
        writing the rows from its final state costs one pass over what is live,
        where ``rebuild`` reads and decodes every event of the kind again (at 5M
        events, 100k rules, minutes). Only the rows that differ from the stored
        ones are deleted and inserted: a store being rebuilt mostly holds them
        already, and deleting then inserting 100k rules (three B-trees each) took
        seconds. Concurrent catch-ups that meet it retry from the position it
        leaves, as after any commit.
        """
        mine = rows_table.c.kind == self.kind.name
        wanted = {o: self._row(o, row, base) for o, row, base in self.kind.of_state(state)}
        columns = [rows_table.c[name] for name in ("originator", "sort_key", "base", "rendered")]
        with self.engine.begin() as conn, without_secure_delete(conn):
            moved = conn.execute(
                update(tracking_table)
                .where(tracking_table.c.kind == self.kind.name)
                .values(position=state.position)
            )
            if moved.rowcount != 1:
                conn.execute(
                    insert(tracking_table), {"kind": self.kind.name, "position": state.position}
                )
            stale = []
            for originator, key, base, text in conn.execute(select(*columns).where(mine)):
                row = wanted.get(originator)
                if row and (row["sort_key"], row["base"], row["rendered"]) == (key, base, text):
                    del wanted[originator]  # stored as it is
                else:
                    stale.append(originator)
            for part in _chunks(stale):
                conn.execute(delete(rows_table).where(mine, rows_table.c.originator.in_(part)))
            live = list(wanted.values())
            for start in range(0, len(live), PAGE_ROWS):
                conn.execute(insert(rows_table), live[start : start + PAGE_ROWS])
        return state.position

    def _row(self, originator: str, row: dict[str, Any], base: int) -> dict[str, Any]:
        return {
            "kind": self.kind.name,
            "originator": originator,
            "sort_key": self.kind.sort_key(row),
            "base": base,
            "rendered": render(row),
        }

    def _catch_up(self, app: Application, head: int, progress: Callable[[int], None] | None) -> int:
        from rulelog.projections.log import read_notifications

        position = self.tracked()
        if head <= position:
            return position
        if self._refuses_writes():
            return self._fold_in_memory(app, head)
        topics = self.kind.topics()
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
            self._advance(conn, expected, position)
            rows = self._load(conn, {str(ev.originator_id) for ev in events})
            for ev in events:
                self.kind.fold(rows, ev)
            self._write(conn, rows)
        if progress:
            progress(position - expected)
        return position

    def _advance(self, conn: Connection, expected: int, position: int) -> None:
        """Move the tracked position, or raise ``IntegrityError`` if it moved meanwhile.

        From position 0 (new rows, or a rebuild) the rows are folded from the
        start of the log, so none is kept from before.
        """
        moved = conn.execute(
            update(tracking_table)
            .where(tracking_table.c.kind == self.kind.name, tracking_table.c.position == expected)
            .values(position=position)
        )
        if moved.rowcount != 1:
            raise IntegrityError("rows moved meanwhile", None, Exception("concurrent catch-up"))
        if expected == 0:
            conn.execute(delete(rows_table).where(rows_table.c.kind == self.kind.name))

    def _load(self, conn: Connection, originators: set[str]) -> _Rows:
        """The live rows of ``originators`` (the others are absent)."""
        rows: _Rows = {}
        mine = rows_table.c.kind == self.kind.name
        columns = (rows_table.c.originator, rows_table.c.base, rows_table.c.rendered)
        for part in _chunks(originators):
            query = select(*columns).where(mine, rows_table.c.originator.in_(part))
            for originator, base, text in conn.execute(query):
                rows[originator] = (json.loads(text), base)
        return rows

    def _write(self, conn: Connection, rows: _Rows) -> None:
        mine = rows_table.c.kind == self.kind.name
        for part in _chunks(rows):
            conn.execute(delete(rows_table).where(mine, rows_table.c.originator.in_(part)))
        live = [
            self._row(key, row, base)
            for key, kept in rows.items()
            if kept is not None
            for row, base in [kept]
        ]
        if live:
            conn.execute(insert(rows_table), live)


def _position(kind: Kind) -> Any:
    return select(tracking_table.c.position).where(tracking_table.c.kind == kind.name)


def _tracked(conn: Connection, kind: Kind) -> int:
    return int(conn.execute(_position(kind)).scalar() or 0)


def _start_tracking(engine: Engine, kind: Kind) -> None:
    """The tracking row at position 0, unless it is there (a process that meets
    another doing the same finds it there)."""
    try:
        with engine.begin() as conn:
            if conn.execute(_position(kind)).first() is None:
                conn.execute(insert(tracking_table), {"kind": kind.name, "position": 0})
    except IntegrityError:
        pass
    except DBAPIError as error:  # a read-only store: the catch-up folds in memory
        if not refused(error):
            raise
        mark_refusing(engine)


def _chunks(keys: Iterable[str]) -> Iterator[list[str]]:
    ordered = sorted(keys)
    for start in range(0, len(ordered), _IN_LIST):
        yield ordered[start : start + _IN_LIST]
