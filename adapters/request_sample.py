"""The sample of served update requests, kept beside the event log (not in it).

A sampled request is history of *traffic*, not of the configuration: it must
never become a domain event (the log would grow with traffic, and time travel
would replay it). It lives in its own table in the store's database, bounded to
the newest ``keep`` rows, and holds only the request target (path and the
options Balrog's routes accept): no address, no header, no time finer than the
millisecond it was taken.
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Callable, Collection, Sequence

from sqlalchemy import BigInteger, Column, Integer, MetaData, Table, Text, delete, func, select
from sqlalchemy.engine import Engine

METADATA = MetaData()
SAMPLE = Table(
    "rulelog_request_sample",
    METADATA,
    # BigInteger on PostgreSQL (bigserial); SQLite's rowid needs INTEGER PRIMARY KEY.
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("taken_ms", BigInteger, nullable=False),
    Column("target", Text, nullable=False),
)


#: Engines whose database has the table already (checked once per process).
_READY: weakref.WeakSet[Engine] = weakref.WeakSet()


class RequestSample:
    """Append, trim and read the sample in ``engine``'s database."""

    def __init__(
        self, engine: Engine, ensure: Callable[[Engine, MetaData], Collection[str]] | None = None
    ) -> None:
        """``ensure`` creates the missing tables and returns those it could not (a
        read-only store); by default they are created, or the error raised."""
        self.engine = engine
        #: The table is missing and the database refuses to create it: an empty sample.
        self.absent = False
        if engine not in _READY:
            if ensure is None:
                METADATA.create_all(engine, checkfirst=True)
            else:
                self.absent = bool(ensure(engine, METADATA))
            if not self.absent:
                _READY.add(engine)

    def append(self, targets: Sequence[str], keep: int) -> None:
        """Add ``targets`` and drop all but the newest ``keep`` rows, in one transaction
        (nothing where the table could not be made: a read-only store keeps none)."""
        if not targets or self.absent:
            return
        now = int(time.time() * 1000)
        with self.engine.begin() as conn:
            conn.execute(SAMPLE.insert(), [{"taken_ms": now, "target": t} for t in targets])
            newest = conn.execute(select(func.max(SAMPLE.c.id))).scalar_one()
            conn.execute(delete(SAMPLE).where(SAMPLE.c.id <= newest - keep))

    def targets(self, limit: int | None = None) -> list[str]:
        """The sampled targets, newest first (at most ``limit``)."""
        if self.absent:
            return []
        query = select(SAMPLE.c.target).order_by(SAMPLE.c.id.desc())
        if limit is not None:
            query = query.limit(limit)
        with self.engine.connect() as conn:
            return [row[0] for row in conn.execute(query)]

    def count(self) -> int:
        if self.absent:
            return 0
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(SAMPLE)).scalar_one())
