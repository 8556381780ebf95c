"""Where the timeline keeps its rows, and how a catch-up commits them in batches.

The tables live in the event store's own database (see ``timeline``); a batch
is written in one transaction with the tracked position, so the index, the
checkpoints and the deltas never disagree with the position they claim.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Protocol

from sqlalchemy import BigInteger, Column, LargeBinary, MetaData, String, Table, insert
from sqlalchemy.engine import Connection

from rulelog.projections.checkpoints import compress

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
deltas_table = Table(
    "rulelog_deltas",
    metadata,
    Column("position", BigInteger, primary_key=True, autoincrement=False),
    #: events covered: the delta takes the state at ``position - span`` to ``position``
    Column("span", BigInteger, nullable=False),
    Column("state", LargeBinary, nullable=False),
)
tracking_table = Table(
    "rulelog_projection",
    metadata,
    Column("name", String(50), primary_key=True),
    Column("position", BigInteger, nullable=False),
    Column("recorded_us", BigInteger, nullable=False),
)


class _Committer(Protocol):
    def _commit(self, expected: int, rows: list[tuple[int, int]], stored: list[Stored]) -> None: ...


#: Rows per INSERT statement: 2 parameters each, under the 999 an old SQLite allows.
_ROWS_PER_INSERT = 250
#: The placeholder of the DB-API paramstyles that take positional parameters.
_MARKS = {"qmark": "?", "format": "%s", "pyformat": "%s"}


def insert_positions(conn: Connection, rows: list[tuple[int, int]]) -> None:
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


#: A checkpoint or delta to store: (position, span, serialised); span 0 for a full one.
Stored = tuple[int, int, bytes]
#: A batch not yet committed: the position it expects the tracking row to be at,
#: its rows, and its checkpoints and deltas as (position, span, compressed).
_Waiting = tuple[int, list[tuple[int, int]], list[tuple[int, int, Future[bytes]]]]


class Batches:
    """Commits a catch-up's batches in order; in a long one, each batch one batch late.

    The delay lets the compression of a batch's checkpoints and deltas (which
    releases the GIL) run in a worker thread while the next batch's events are
    read and folded. The commits stay
    on the calling thread -- committing from the worker measured no faster, and
    one thread per connection is safe with any pool, in-memory SQLite's
    included -- and each writes its rows, its checkpoints and deltas and the
    tracked position in one transaction; if the catch-up fails, the batch still
    waiting is dropped, as if the process had stopped just before committing it.
    """

    def __init__(
        self,
        timeline: _Committer,
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

    def add(self, rows: list[tuple[int, int]], stored: list[Stored]) -> None:
        """Commit ``rows`` (position, recorded_us) and the serialised ``stored``."""
        compressing = []
        for position, span, serialized in stored:
            if self.threaded:
                if self.pool is None:
                    self.pool = ThreadPoolExecutor(1, thread_name_prefix="rulelog-checkpoint")
                done = self.pool.submit(compress, serialized)
            else:
                done = Future()
                done.set_result(compress(serialized))
            compressing.append((position, span, done))
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
        stored = [(position, span, done.result()) for position, span, done in compressing]
        self.timeline._commit(expected, rows, stored)
        if self.progress:
            self.progress(len(rows))

    def __enter__(self) -> Batches:
        return self

    def __exit__(self, error: type[BaseException] | None, *_: object) -> None:
        try:
            if error is None:
                self._commit_waiting()
        finally:
            if self.pool is not None:
                self.pool.shutdown(wait=True, cancel_futures=True)
