"""Time and checkpoints: the state at any position, without replaying from zero.

Three projection tables live in the event store's database:

* ``rulelog_positions``: position -> recorded time, where a position's recorded
  time is the running maximum of event timestamps up to it, so the map is
  monotonic even when concurrent writers' clocks interleave; "the view at T"
  is the state at the last position recorded at or before T;
* ``rulelog_checkpoints``: the folded ``Catalog`` at every K-th position
  (compressed JSON), so the state at any position is one checkpoint load plus
  at most K events;
* ``rulelog_projection``: how far the two tables go, updated in the same
  transaction as the rows it accounts for.

Checkpoints sit at multiples of K, so a rebuild from the log writes exactly
the rows the incremental catch-up wrote.
"""

from __future__ import annotations

import json
import marshal
import re
import zlib
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

from eventsourcing.application import Application
from sqlalchemy import (
    BigInteger,
    Column,
    LargeBinary,
    MetaData,
    String,
    Table,
    create_engine,
    delete,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from rulelog.domain.bounds import MAX_EPOCH_MS, id_from
from rulelog.domain.errors import Invalid
from rulelog.projections.log import (
    PAGE,
    last_position,
    read_notifications,
    timestamp_of,
)
from rulelog.projections.state import Catalog, folded_topics

DEFAULT_CHECKPOINT_EVERY = 1000
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
NAME = "timeline"

metadata = MetaData()
positions_table = Table(
    "rulelog_positions",
    metadata,
    Column("position", BigInteger, primary_key=True, autoincrement=False),
    Column("recorded_us", BigInteger, nullable=False, index=True),
)
checkpoints_table = Table(
    "rulelog_checkpoints",
    metadata,
    Column("position", BigInteger, primary_key=True, autoincrement=False),
    Column("state", LargeBinary, nullable=False),
)
tracking_table = Table(
    "rulelog_projection",
    metadata,
    Column("name", String(50), primary_key=True),
    Column("position", BigInteger, nullable=False),
    Column("recorded_us", BigInteger, nullable=False),
)


def to_us(moment: datetime) -> int:
    """Microseconds since the epoch, exactly (no float rounding)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - EPOCH) // timedelta(microseconds=1)


def from_us(us: int) -> datetime:
    return EPOCH + timedelta(microseconds=us)


_POSITION = re.compile(r"^position:(\d+)$")


def parse_at(value: str) -> int | datetime:
    """One place that parses ``at``: ``position:N``, epoch milliseconds, or ISO 8601 UTC."""
    text = value.strip()
    found = _POSITION.match(text)
    if found:
        position = id_from(found.group(1))
        if position is None:
            raise Invalid(f"at: position {found.group(1)[:30]} is beyond the log", field="at")
        return position
    if text.isdigit():
        milliseconds = id_from(text, MAX_EPOCH_MS)
        if milliseconds is None:
            raise Invalid(f"at: {text[:30]} is not a time (epoch milliseconds)", field="at")
        return EPOCH + timedelta(milliseconds=milliseconds)
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise Invalid(
            f"at: {value!r} is not position:N, epoch milliseconds or an ISO 8601 time",
            field="at",
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


#: First byte of a checkpoint in the current format (zlib-compressed ``marshal``);
#: a zlib stream (the earlier JSON format) starts with 0x78, so both are read.
_MARSHAL = b"M"
#: marshal format 2: every later Python reads it, and, having no references
#: between objects (formats 3 and 4 share any object referenced twice), it
#: turns equal states into equal bytes however their objects happen to be
#: shared, so a rebuild writes exactly the checkpoints the catch-ups wrote.
_MARSHAL_VERSION = 2


def encode_state(state: Catalog) -> bytes:
    """A checkpoint: ``Catalog.to_data`` in ``marshal`` (several times faster than
    JSON both ways, and checkpoints are written every K events of a rebuild)."""
    return _compress(_serialize(state))


def _serialize(state: Catalog) -> bytes:
    return marshal.dumps(state.to_data(), _MARSHAL_VERSION)


def _compress(serialized: bytes) -> bytes:
    return _MARSHAL + zlib.compress(serialized, 1)


def decode_state(blob: bytes) -> Catalog:
    if blob[:1] == _MARSHAL:
        return Catalog.from_data(marshal.loads(zlib.decompress(blob[1:])))
    return Catalog.from_data(json.loads(zlib.decompress(blob)))


#: Rows per INSERT statement: 2 parameters each, under the 999 an old SQLite allows.
_ROWS_PER_INSERT = 250
#: The placeholder of the DB-API paramstyles that take positional parameters.
_MARKS = {"qmark": "?", "format": "%s", "pyformat": "%s"}


def _insert_positions(conn: Connection, rows: list[tuple[int, int]]) -> None:
    """Insert (position, recorded_us) rows, a few hundred per statement.

    A rebuild writes one row per event: through ``insert(table)`` with dicts,
    SQLAlchemy's per-row parameter processing costs more than the database's
    work, and even a driver's ``executemany`` steps the statement once per row.
    """
    mark = _MARKS.get(conn.dialect.paramstyle)
    if mark is None:  # pragma: no cover - sqlite3 and psycopg both take positional marks
        conn.execute(insert(positions_table), [{"position": p, "recorded_us": r} for p, r in rows])
        return
    table = conn.dialect.identifier_preparer.format_table(positions_table)
    for start in range(0, len(rows), _ROWS_PER_INSERT):
        part = rows[start : start + _ROWS_PER_INSERT]
        values = ", ".join([f"({mark}, {mark})"] * len(part))
        parameters = tuple(value for row in part for value in row)
        conn.exec_driver_sql(
            f"INSERT INTO {table} (position, recorded_us) VALUES {values}", parameters
        )


#: A batch not yet committed: the position it expects the tracking row to be at,
#: its rows, and its checkpoint's position and compressed state, if it has one.
_Waiting = tuple[int, list[tuple[int, int]], tuple[int, Future[bytes]] | None]


class _Batches:
    """Commits a catch-up's batches in order; in a long one, each batch one batch late.

    The delay lets a checkpoint's compression (about half of what writing one
    costs; zlib releases the GIL) run in a worker thread while the next
    batch's events are read and folded. The commits stay on the calling
    thread -- committing from the worker measured no faster, and one thread
    per connection is safe with any pool, in-memory SQLite's included -- and
    each writes its rows, its checkpoint and the tracked position in one
    transaction; if the catch-up fails, the batch still waiting is dropped, as
    if the process had stopped just before committing it.
    """

    def __init__(
        self,
        timeline: Timeline,
        position: int,
        progress: Callable[[int], None] | None,
        *,
        threaded: bool,
    ) -> None:
        self.timeline = timeline
        self.position = position
        self.progress = progress
        self.threaded = threaded
        self.pool: ThreadPoolExecutor | None = None
        self.waiting: _Waiting | None = None

    def add(self, rows: list[tuple[int, int]], checkpoint: tuple[int, bytes] | None) -> None:
        """Commit ``rows`` (position, recorded_us) and a serialised checkpoint, if any."""
        compressing = None
        if checkpoint is not None and self.threaded:
            if self.pool is None:
                self.pool = ThreadPoolExecutor(1, thread_name_prefix="rulelog-checkpoint")
            compressing = (checkpoint[0], self.pool.submit(_compress, checkpoint[1]))
        elif checkpoint is not None:
            compressing = (checkpoint[0], Future())
            compressing[1].set_result(_compress(checkpoint[1]))
        self._commit_waiting()
        self.waiting = (self.position, rows, compressing)
        self.position = rows[-1][0]
        if not self.threaded:
            self._commit_waiting()

    def _commit_waiting(self) -> None:
        if self.waiting is None:
            return
        expected, rows, compressing = self.waiting
        self.waiting = None
        checkpoint = (compressing[0], compressing[1].result()) if compressing else None
        self.timeline._commit(expected, rows, checkpoint)
        if self.progress:
            self.progress(len(rows))

    def __enter__(self) -> _Batches:
        return self

    def __exit__(self, error: type[BaseException] | None, *_: object) -> None:
        try:
            if error is None:
                self._commit_waiting()
        finally:
            if self.pool is not None:
                self.pool.shutdown(wait=True, cancel_futures=True)


class Timeline:
    """The position/time index and checkpoints of one event store."""

    def __init__(
        self,
        app: Application,
        url: str,
        *,
        every: int = DEFAULT_CHECKPOINT_EVERY,
        engine: Engine | None = None,
    ) -> None:
        if every < 1:
            raise Invalid("checkpoint interval must be at least 1", field="every")
        self.app = app
        self.every = every
        self.engine = engine or create_engine(url)
        metadata.create_all(self.engine)

    # ------------------------------------------------------------- reading

    def tracked(self) -> tuple[int, int]:
        """(last position indexed, its recorded time in microseconds)."""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(tracking_table.c.position, tracking_table.c.recorded_us).where(
                    tracking_table.c.name == NAME
                )
            ).first()
        return (row[0], row[1]) if row else (0, 0)

    def position_at(self, moment: datetime) -> int:
        """The last position whose recorded time is at or before ``moment``."""
        self.catch_up()
        with self.engine.connect() as conn:
            found = conn.execute(
                select(func.max(positions_table.c.position)).where(
                    positions_table.c.recorded_us <= to_us(moment)
                )
            ).scalar()
        return int(found or 0)

    def time_of(self, position: int) -> datetime | None:
        with self.engine.connect() as conn:
            us = conn.execute(
                select(positions_table.c.recorded_us).where(positions_table.c.position == position)
            ).scalar()
        return from_us(us) if us is not None else None

    def resolve(self, at: str | int | datetime | None) -> int:
        """A position for ``at`` (None: the head of the log)."""
        if at is None:
            return last_position(self.app)
        parsed = parse_at(at) if isinstance(at, str) else at
        if isinstance(parsed, int):
            head = last_position(self.app)
            if parsed > head:
                raise Invalid(f"at: position {parsed} is beyond the log (at {head})", field="at")
            return parsed
        return self.position_at(parsed)

    def checkpoint_at_or_before(self, position: int) -> Catalog:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(checkpoints_table.c.state)
                .where(checkpoints_table.c.position <= position)
                .order_by(checkpoints_table.c.position.desc())
                .limit(1)
            ).first()
        return decode_state(row[0]) if row else Catalog()

    def state_at(self, position: int) -> Catalog:
        """The catalogue as of ``position``: one checkpoint plus at most K events.

        Only the events the fold acts on are read (index aggregates are about a
        third of a typical log), so the state is then moved to ``position``.
        """
        state = self.checkpoint_at_or_before(position)
        if position > state.position:
            decode = self.app.mapper.to_domain_event
            stored = read_notifications(
                self.app, start=state.position + 1, stop=position, topics=folded_topics()
            )
            with state.digests_deferred():
                for notification in stored:
                    state.apply_event(notification.id, decode(notification))
            state.position = position
        return state

    def current(self) -> Catalog:
        return self.state_at(last_position(self.app))

    # ------------------------------------------------------------- writing

    def catch_up(self, progress: Callable[[int], None] | None = None) -> int:
        """Index every new position (and checkpoint every K-th); returns the position."""
        for _ in range(5):
            try:
                return self._catch_up(progress)
            except IntegrityError:
                continue  # another process indexed the same positions first
        return self.tracked()[0]

    def _catch_up(self, progress: Callable[[int], None] | None) -> int:
        position, recorded = self.tracked()
        head = last_position(self.app)
        if head <= position:
            return position
        state = self.state_at(position)
        rows: list[tuple[int, int]] = []
        checkpoint: tuple[int, bytes] | None = None
        folded = frozenset(folded_topics())
        threaded = head - position > PAGE  # a second thread pays off over several batches
        with (
            state.digests_deferred(),
            _Batches(self, position, progress, threaded=threaded) as batches,
        ):
            for stored in read_notifications(self.app, start=position + 1, stop=head):
                if stored.topic in folded:
                    event = self.app.mapper.to_domain_event(stored)
                    state.apply_event(stored.id, event)
                    moment = event.timestamp
                else:  # an index aggregate's event: only its time matters here
                    state.position = stored.id
                    moment = timestamp_of(self.app, stored)
                recorded = max(recorded, to_us(moment))
                rows.append((stored.id, recorded))
                if stored.id % self.every == 0:
                    # Serialised now (the state moves on); compressed meanwhile.
                    checkpoint = (stored.id, _serialize(state))
                if len(rows) >= PAGE or checkpoint is not None:
                    batches.add(rows, checkpoint)
                    rows, checkpoint = [], None
            if rows:
                batches.add(rows, checkpoint)
        return head

    def _commit(
        self, expected: int, rows: list[tuple[int, int]], checkpoint: tuple[int, bytes] | None
    ) -> None:
        """Rows (position, recorded_us), checkpoint and the tracked position in one transaction."""
        with self.engine.begin() as conn:
            self._advance(conn, expected, *rows[-1])
            _insert_positions(conn, rows)
            if checkpoint is not None:
                conn.execute(
                    insert(checkpoints_table), {"position": checkpoint[0], "state": checkpoint[1]}
                )

    @staticmethod
    def _advance(conn: Connection, expected: int, position: int, recorded_us: int) -> None:
        if expected == 0:
            exists = conn.execute(
                select(tracking_table.c.position).where(tracking_table.c.name == NAME)
            ).first()
            if exists is None:
                conn.execute(
                    insert(tracking_table),
                    {"name": NAME, "position": position, "recorded_us": recorded_us},
                )
                return
        moved = conn.execute(
            update(tracking_table)
            .where(tracking_table.c.name == NAME, tracking_table.c.position == expected)
            .values(position=position, recorded_us=recorded_us)
        )
        if moved.rowcount != 1:
            raise IntegrityError("timeline moved meanwhile", None, Exception("concurrent catch-up"))

    def rebuild(self, progress: Callable[[int], None] | None = None) -> int:
        """Forget the index and checkpoints and recompute them from the log."""
        with self.engine.begin() as conn:
            for table in (positions_table, checkpoints_table, tracking_table):
                conn.execute(delete(table))
        return self.catch_up(progress)
