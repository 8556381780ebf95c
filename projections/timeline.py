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
import re
import zlib
from collections.abc import Callable
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

from domain.errors import Invalid
from projections.log import PAGE, last_position, read_log
from projections.state import Catalog

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
        return int(found.group(1))
    if text.isdigit():
        return EPOCH + timedelta(milliseconds=int(text))
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise Invalid(
            f"at: {value!r} is not position:N, epoch milliseconds or an ISO 8601 time",
            field="at",
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def encode_state(state: Catalog) -> bytes:
    return zlib.compress(json.dumps(state.to_data(), separators=(",", ":")).encode(), 1)


def decode_state(blob: bytes) -> Catalog:
    return Catalog.from_data(json.loads(zlib.decompress(blob)))


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
        """The catalogue as of ``position``: one checkpoint plus at most K events."""
        state = self.checkpoint_at_or_before(position)
        if position > state.position:
            state.fold(read_log(self.app, start=state.position + 1, stop=position))
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
        rows: list[dict[str, int]] = []
        checkpoint: tuple[int, bytes] | None = None
        for logged in read_log(self.app, start=position + 1, stop=head):
            state.apply(logged)
            recorded = max(recorded, to_us(logged.timestamp))
            rows.append({"position": logged.position, "recorded_us": recorded})
            if logged.position % self.every == 0:
                checkpoint = (logged.position, encode_state(state))
            if len(rows) >= PAGE or checkpoint is not None:
                self._commit(position, rows, checkpoint)
                position = rows[-1]["position"]
                if progress:
                    progress(len(rows))
                rows, checkpoint = [], None
        if rows:
            self._commit(position, rows, checkpoint)
            if progress:
                progress(len(rows))
        return head

    def _commit(
        self, expected: int, rows: list[dict[str, int]], checkpoint: tuple[int, bytes] | None
    ) -> None:
        """Rows, checkpoint and the tracked position in one transaction."""
        with self.engine.begin() as conn:
            self._advance(conn, expected, rows[-1]["position"], rows[-1]["recorded_us"])
            conn.execute(insert(positions_table), rows)
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
