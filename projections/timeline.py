"""Time and stored states: the state at any position, without replaying from zero.

Four projection tables live in the event store's database
(``timeline_store``):

* ``rulelog_positions``: position -> recorded time, where a position's recorded
  time is the running maximum of event timestamps up to it, so the map is
  monotonic even when concurrent writers' clocks interleave; "the view at T"
  is the state at the last position recorded at or before T;
* ``rulelog_checkpoints``: the whole folded ``Catalog`` (marshal + Zstandard), at
  least K events apart and spaced in proportion to the catalogue's size, so
  that writing them costs a fixed share of a row per event at any size;
* ``rulelog_deltas``: every D events (128) between them, the rows that
  changed, in a base-4 Fenwick layout (``checkpoints``), so the state at any
  position is one full checkpoint, a few deltas and a fold of fewer than D
  events, and the bytes written follow what changed, not the catalogue;
* ``rulelog_projection``: how far the tables go, updated in the same
  transaction as the rows it accounts for.

Where checkpoints and deltas sit is a function of the log alone (a full one
when ``max(K, rows)`` events have passed since the last; boundaries every D
events after it), so a rebuild from the log writes exactly the rows the
incremental catch-ups wrote. Stores indexed before deltas existed (full
checkpoints every K, in JSON or marshal) read as before: a missing delta is
made up by folding, and the next catch-up's deltas cover the gap.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from eventsourcing.application import Application
from sqlalchemy import (
    create_engine,
    delete,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError, IntegrityError

from rulelog.domain.bounds import MAX_EPOCH_MS, id_from
from rulelog.domain.errors import Invalid
from rulelog.projections.checkpoints import (
    DEFAULT_DELTA_EVERY,
    Entries,
    Layout,
    apply_delta,
    chain,
    changes_of,
    collection_paused,
    decode_delta,
    decode_state,
    encode_state,
    long_fold,
)
from rulelog.projections.clearing import without_secure_delete
from rulelog.projections.log import PAGE, last_position, read_notifications, timestamp_of
from rulelog.projections.log_pipe import decoded, to_us
from rulelog.projections.read_only import (
    ensure_tables,
    known_refusing,
    mark_refusing,
    note_fallback,
    refused,
    refuses_writes,
)
from rulelog.projections.state import Catalog, folded_topics
from rulelog.projections.timeline_store import (
    Batches,
    Stored,
    checkpoints_table,
    deltas_table,
    insert_positions,
    metadata,
    positions_table,
    tracking_table,
)
from rulelog.projections.timeline_unstored import Unstored

__all__ = [
    "Timeline",
    "checkpoints_table",
    "decode_state",
    "deltas_table",
    "encode_state",
    "parse_at",
    "positions_table",
    "tracking_table",
]

DEFAULT_CHECKPOINT_EVERY = 1000
#: Positions per commit of a catch-up of more than this many events.
LONG_BATCH = 10 * PAGE
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
NAME = "timeline"


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


class Timeline:
    """The position/time index and checkpoints of one event store."""

    def __init__(
        self,
        app: Application,
        url: str,
        *,
        every: int = DEFAULT_CHECKPOINT_EVERY,
        delta_every: int | None = None,
        engine: Engine | None = None,
    ) -> None:
        if delta_every is None:  # a read never folds more than K events, as before deltas
            delta_every = min(DEFAULT_DELTA_EVERY, every)
        if every < 1 or delta_every < 1:
            raise Invalid("checkpoint and delta intervals must be at least 1", field="every")
        self.app = app
        #: K: the fewest events between two full checkpoints
        self.every = every
        #: D: events between two boundaries (deltas), the longest fold of a read
        self.delta_every = delta_every
        self.engine = engine or create_engine(url)
        #: Tables the database would not let this process create: read as empty.
        self.absent = ensure_tables(self.engine, metadata, NAME)
        #: The recorded times of positions the tables lack, when the database
        #: refuses the catch-up that would store them (see ``_unstored_to``).
        self.unstored = Unstored()

    # ------------------------------------------------------------- reading

    def tracked(self) -> tuple[int, int]:
        """(last position indexed, its recorded time in microseconds)."""
        if tracking_table.name in self.absent:
            return (0, 0)
        with self.engine.connect() as conn:
            row = conn.execute(
                select(tracking_table.c.position, tracking_table.c.recorded_us).where(
                    tracking_table.c.name == NAME
                )
            ).first()
        return (row[0], row[1]) if row else (0, 0)

    def position_at(self, moment: datetime) -> int:
        """The last position whose recorded time is at or before ``moment``."""
        head = self.catch_up()
        us = to_us(moment)
        found = 0
        if positions_table.name not in self.absent:
            with self.engine.connect() as conn:
                found = conn.execute(
                    select(func.max(positions_table.c.position)).where(
                        positions_table.c.recorded_us <= us
                    )
                ).scalar()
        return max(int(found or 0), self._unstored_to(head).position_at(us))

    def time_of(self, position: int) -> datetime | None:
        return self.times_of([position]).get(position)

    def times_of(self, positions: Iterable[int]) -> dict[int, datetime]:
        """The recorded times of those ``positions`` the log holds (one query per 500)."""
        wanted = sorted(set(positions))
        times: dict[int, int] = {}
        if positions_table.name not in self.absent:
            table = positions_table
            with self.engine.connect() as conn:
                for start in range(0, len(wanted), 500):
                    chunk = wanted[start : start + 500]
                    query = select(table.c.position, table.c.recorded_us)
                    rows = conn.execute(query.where(table.c.position.in_(chunk)))
                    times.update((position, us) for position, us in rows)
        lacking = [p for p in wanted if p not in times]
        if lacking and self._not_storing():
            unstored = self._unstored_to(lacking[-1])
            times.update((p, us) for p in lacking if (us := unstored.time_of(p)) is not None)
        return {int(p): from_us(us) for p, us in times.items()}

    def _unstored_to(self, head: int) -> Unstored:
        """The recorded times after the tables' position, folded from the log up to
        ``head`` in memory (only where the database refuses to store them)."""
        if not self._not_storing():
            return self.unstored  # the tables hold every position a catch-up reached
        position, recorded = self.tracked()
        if head > position:
            moments = (
                (n.id, to_us(timestamp_of(self.app, n)))
                for n in read_notifications(
                    self.app, start=max(position, self.unstored.last) + 1, stop=head
                )
            )
            self.unstored.extend(moments, recorded)
        return self.unstored

    def _refuses_writes(self) -> bool:
        """Whether the database refuses this process's writes (asked once per engine)."""
        return bool(self.absent) or refuses_writes(self.engine, self._probe())

    def _not_storing(self) -> bool:
        """Whether a catch-up found the database refusing (reads never ask: a probe
        of a writable SQLite file would take its write lock)."""
        return bool(self.absent) or known_refusing(self.engine)

    @staticmethod
    def _probe() -> Any:
        """A write that changes nothing, to ask the database whether it takes writes."""
        nothing = (tracking_table.c.name == NAME) & (tracking_table.c.position < 0)
        return update(tracking_table).where(nothing).values(position=0)

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
        """The stored state nearest at or before ``position``: the full checkpoint and
        the deltas after it (no events folded), so at most D - 1 events behind
        when the timeline has indexed ``position``."""
        return self._stored_at(position)[0]

    def _stored_at(self, position: int) -> tuple[Catalog, int, list[tuple[int, Entries]]]:
        """The stored state at or before ``position``, the position of the full
        checkpoint it starts from, and the deltas applied to it (position and
        entries, oldest first: a catch-up resumes its windows from them).

        A delta is applied only if it starts where the state is (``position -
        span``), so a store indexed before deltas existed, or with another D,
        is read correctly: its missing deltas are made up by the fold.
        """
        with self.engine.connect() as conn:
            row = None
            if checkpoints_table.name not in self.absent:
                row = conn.execute(
                    select(checkpoints_table.c.position, checkpoints_table.c.state)
                    .where(checkpoints_table.c.position <= position)
                    .order_by(checkpoints_table.c.position.desc())
                    .limit(1)
                ).first()
            full_at = row[0] if row else 0
            indices = chain((position - full_at) // self.delta_every)
            wanted = [full_at + m * self.delta_every for m in indices]
            found = {}
            if wanted and deltas_table.name not in self.absent:
                found = {
                    at: (span, blob)
                    for at, span, blob in conn.execute(
                        select(
                            deltas_table.c.position, deltas_table.c.span, deltas_table.c.state
                        ).where(deltas_table.c.position.in_(wanted))
                    )
                }
        with collection_paused():
            state = decode_state(row[1]) if row else Catalog()
            applied: list[tuple[int, Entries]] = []
            for at in wanted:
                delta = found.get(at)
                if delta is None or at - delta[0] != state.position:
                    break
                entries = decode_delta(delta[1])
                apply_delta(state, entries, at)
                applied.append((at, entries))
        return state, full_at, applied

    def state_at(self, position: int) -> Catalog:
        """The catalogue as of ``position``: the stored state at or before it (one
        full checkpoint and at most log2 deltas) plus fewer than D events.

        Only the events the fold acts on are read (index aggregates are about a
        third of a typical log), so the state is then moved to ``position``.
        """
        state = self.checkpoint_at_or_before(position)
        self._fold(state, position)
        return state

    def _fold(self, state: Catalog, position: int) -> None:
        """Move ``state`` to ``position`` by folding the events in between."""
        if position > state.position:
            decode = self.app.mapper.to_domain_event
            stored = read_notifications(
                self.app, start=state.position + 1, stop=position, topics=folded_topics()
            )
            with state.digests_deferred():
                for notification in stored:
                    state.apply_event(notification.id, decode(notification))
            state.position = position

    def current(self) -> Catalog:
        return self.state_at(last_position(self.app))

    # ------------------------------------------------------------- writing

    def catch_up(
        self, progress: Callable[[int], None] | None = None, *, kept: list[Catalog] | None = None
    ) -> int:
        """Index every new position (and checkpoint every K-th); returns the position.

        Where the database refuses to store them, nothing is written and the head
        of the log is returned all the same: every read then takes the stored rows
        and folds the rest of the log in memory (``state_at``, ``_unstored_to``).
        ``kept`` receives the state the fold ended at, when it folded to the end.
        """
        for _ in range(5):
            try:
                return self._catch_up(progress, kept)
            except IntegrityError:
                continue  # another process indexed the same positions first
            except DBAPIError as error:
                if not refused(error):
                    raise
                mark_refusing(self.engine)
                return self._not_stored(last_position(self.app))
        return self.tracked()[0]

    def _not_stored(self, head: int) -> int:
        note_fallback(NAME, stored=self.tracked()[0], head=head)
        return head

    def _catch_up(
        self, progress: Callable[[int], None] | None, kept: list[Catalog] | None = None
    ) -> int:
        position, recorded = self.tracked()
        head = last_position(self.app)
        if head <= position:
            return position
        if self._refuses_writes():
            return self._not_stored(head)
        layout = self._layout_at(position)
        state = layout.state
        rows: list[tuple[int, int]] = []
        stored: list[Stored] = []
        topics = folded_topics()
        threaded = head - position > PAGE  # a second thread pays off over several batches
        # A long catch-up (a rebuild) commits less often: each commit is a disk flush.
        batch = LONG_BATCH if head - position > LONG_BATCH else PAGE
        with (
            long_fold() as settled,
            state.digests_deferred(),
            Batches(self, position, progress, threaded=threaded) as batches,
        ):
            for at, event, moment in decoded(self.app, position + 1, head, topics):
                if event is not None:
                    state.apply_event(at, event)
                else:  # an index aggregate's event: only its time matters here
                    state.position = at
                recorded = max(recorded, moment)
                rows.append((at, recorded))
                made = layout.boundary(at)
                if made is not None:
                    stored.append(made)  # serialised now (the state moves on)
                if len(rows) >= batch or (made is not None and made[1] == 0):
                    batches.add(rows, stored)
                    rows, stored = [], []
                    settled()
            if rows:
                batches.add(rows, stored)
        if kept is not None:
            kept.append(state)
        return head

    def _layout_at(self, position: int) -> Layout:
        """The state at ``position``, tracking changes, with the windows of the deltas
        still open there: those of the deltas applied to the stored state, then the
        boundaries closed while folding the events after it (none, unless deltas
        are missing: a store indexed before they existed; the deltas written next
        then cover the gap).
        """
        state, full_at, applied = self._stored_at(position)
        layout = Layout(state, full_at, every=self.every, delta_every=self.delta_every)
        for at, entries in applied:
            layout.close((at - full_at) // self.delta_every, changes_of(entries))
        decode = self.app.mapper.to_domain_event
        with state.digests_deferred():
            for notification in read_notifications(
                self.app, start=state.position + 1, stop=position, topics=folded_topics()
            ):
                layout.skip_to(notification.id - 1)
                state.apply_event(notification.id, decode(notification))
            layout.skip_to(position)
        state.position = position
        return layout

    def _commit(self, expected: int, rows: list[tuple[int, int]], stored: list[Stored]) -> None:
        """Rows (position, recorded_us), checkpoints, deltas and the tracked position
        in one transaction."""
        with self.engine.begin() as conn:
            self._advance(conn, expected, *rows[-1])
            insert_positions(conn, rows)
            fulls = [{"position": p, "state": blob} for p, span, blob in stored if span == 0]
            if fulls:
                conn.execute(insert(checkpoints_table), fulls)
            deltas = [
                {"position": p, "span": span, "state": blob} for p, span, blob in stored if span
            ]
            if deltas:
                conn.execute(insert(deltas_table), deltas)

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
        """Forget the index, checkpoints and deltas and recompute them from the log."""
        return self.rebuilt(progress).position

    def rebuilt(self, progress: Callable[[int], None] | None = None) -> Catalog:
        """``rebuild``, returning the state at the position it reached: the fold's own
        when it got there (reading it back, a full checkpoint of the whole catalogue
        and its deltas, took a second at 100k rules), else read as ``state_at`` does."""
        with self.engine.begin() as conn, without_secure_delete(conn):
            for table in (positions_table, checkpoints_table, deltas_table, tracking_table):
                conn.execute(delete(table))
        kept: list[Catalog] = []
        position = self.catch_up(progress, kept=kept)
        if kept and kept[-1].position == position:
            return kept[-1]
        return self.state_at(position)
