"""``import-balrog``: a Balrog database's whole history into a rulelog store, or nothing.

Atomicity: the whole import is one database transaction of the event store.
History is streamed from Balrog and replayed (``domain.balrog_replay``) into
events, which are written in batches inside that transaction; after each
batch the session forgets the written records, so memory stays bounded
however long the history. The events are also folded, as they go, into the
state the store will show; at the end it is compared with Balrog's current
rows (``projections.balrog_compare``) and any difference -- a history that
does not end where the table is -- rolls the transaction back. So a failure
at any row leaves the store as it was (empty), and readers never see half an
import.

``--since-last`` continues a store made by an earlier import: only history
rows above the recorded high-water marks (``domain.balrog_marks``) are
replayed, on top of the stored aggregates, and written in one transaction
with the new marks. It checks each row against the stored state (data_version
continuity), not the whole tables: ``--verify`` does that, after the switch.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import chain, islice
from typing import Any

from eventsourcing.domain import Aggregate
from sqlalchemy import func, insert, select

from rulelog.adapters.balrog_source import UNKNOWN_ACTOR, BalrogSource
from rulelog.adapters.balrog_v2_source import BalrogV2Source
from rulelog.domain import ids
from rulelog.domain.balrog.id_pairs import IdPairs
from rulelog.domain.balrog.marks import BalrogImport
from rulelog.domain.balrog.replay import ImportRowError, describe_moment
from rulelog.domain.balrog.rows import V2_SC_HISTORY_NOT_IMPORTED, HistoryRow
from rulelog.domain.balrog.v2_releases import V2Replay
from rulelog.domain.catalog.releases import Release
from rulelog.domain.errors import Conflict
from rulelog.projections.balrog_compare import V2Side, differences, rulelog_side
from rulelog.projections.log import decode, last_position, read_notifications
from rulelog.projections.state import Catalog
from rulelog.services.application import RulelogApp
from rulelog.services.balrog_v2 import (
    balrog_rows,
    pending_left_out,
    shadowed,
    v2_changed_since,
)

#: Events written (flushed) per batch inside the import's transaction.
BATCH = 2000
#: Streams at least this long end the import with a snapshot.
SNAPSHOT_FROM = 5
#: History rows whose aggregates a catch-up reads in one statement.
READ_AHEAD = 1000
#: Releases read per statement by a catch-up.
RELEASE_READS = 500
#: Data_version gaps listed in the summary (all are counted).
GAPS_LISTED = 20

Progress = Callable[[str, int], None]


@dataclass
class BalrogImportSummary:
    """What an import read and wrote; ``as_json`` is the ``--json`` summary."""

    source: str
    mode: str
    rows: dict[str, int] = field(default_factory=dict)
    events: dict[str, int] = field(default_factory=dict)
    first: str | None = None
    last: str | None = None
    without_history: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)
    gaps: list[str] = field(default_factory=list)
    gap_count: int = 0
    #: rulelog scheduled release change id -> the pending v2 changes it merges
    v2_scheduled_changes: dict[int, dict[str, Any]] = field(default_factory=dict)
    #: what importing v2 releases had to decide (merged signoffs, times)
    v2_notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def events_total(self) -> int:
        return sum(self.events.values())

    def as_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "mode": self.mode,
            "rows": self.rows,
            "events": self.events,
            "events_total": self.events_total,
            "time_range": {"first": self.first, "last": self.last},
            "without_history": self.without_history,
            "skipped": self.skipped,
            "data_version_gaps": {"count": self.gap_count, "first": self.gaps},
            "v2_scheduled_changes": self.v2_scheduled_changes,
            "v2_notes": self.v2_notes,
            "seconds": round(self.seconds, 3),
        }

    def lines(self) -> list[str]:
        """The human summary."""
        out = [
            f"{self.mode} from {self.source}: {sum(self.rows.values())} rows, "
            f"{self.events_total} events, {self.seconds:.1f} s",
            f"  time range: {self.first or '-'} .. {self.last or '-'}",
        ]
        out += [f"  rows {t}: {n}" for t, n in sorted(self.rows.items())]
        out += [f"  events {t}: {n}" for t, n in sorted(self.events.items())]
        out += [
            f"  no history kept (imported as their earliest known state) {t}: {n}"
            for t, n in sorted(self.without_history.items())
        ]
        out += [f"  skipped: {reason}: {n}" for reason, n in sorted(self.skipped.items())]
        if self.gap_count:
            out.append(f"  data_version gaps (filled with no-change events): {self.gap_count}")
            out += [f"    {g}" for g in self.gaps]
        out += [
            f"  v2 scheduled changes {', '.join(v['from'])} -> releases scheduled change "
            f"{sc_id} ({v['name']})"
            for sc_id, v in sorted(self.v2_scheduled_changes.items())
        ]
        out += [f"  v2: {note}" for note in self.v2_notes]
        return out


def import_balrog(
    app: RulelogApp,
    source: BalrogSource,
    imported_by: str,
    *,
    dry_run: bool = False,
    since_last: bool = False,
    progress: Progress | None = None,
) -> BalrogImportSummary:
    """Replay ``source``'s history into ``app``'s store (see the module docstring)."""
    started = time.perf_counter()
    tick = progress or (lambda _t, _n: None)
    marks_agg = app.find(ids.balrog_import_id(), BalrogImport) if since_last else None
    if since_last:
        if marks_agg is None:
            raise Conflict("--since-last: this store was not made by import-balrog")
        since: dict[str, int] = dict(marks_agg.marks)
    else:
        existing = last_position(app)
        if existing:
            raise Conflict(
                f"the store is not empty ({existing} events): import-balrog writes into an "
                "empty store (or, with --since-last, continues its own import)"
            )
        since = {}
    marks = source.marks()
    mode = "dry run" if dry_run else ("catch-up" if since_last else "import")
    summary = BalrogImportSummary(source=source.safe_url, mode=mode)
    replay = V2Replay(app.find, app.reader.get_many) if since_last else V2Replay()
    catalog = None if since_last else Catalog(keep_ended=True)
    v2 = BalrogV2Source(source)
    v2_names = v2.names()

    streams: list[Iterator[HistoryRow]] = []
    if not since_last:
        first = source.first_ms()
        start = first - 1 if first is not None else int(time.time() * 1000)
        streams.append(source.without_history(start))
        streams.append(v2.release_rows(start))
    streams.append(source.history(since, until=marks))
    if since_last and not source.has_history("releases"):
        streams.append(r for r in _releases_changed_since(app, source, v2_names))
    if since_last:
        streams.append(r for r in v2_changed_since(app, source, v2))
    else:
        streams.append(_pending_v2(v2, replay, start))
    rows = shadowed(chain(*streams), v2_names, replay.report.skipped)
    writer = _Writer(app, catalog, dry_run)
    with ExitStack() as cursors, writer:
        for stream in streams:
            cursors.callback(stream.close)  # type: ignore[attr-defined]
        for row in _read_ahead(rows, replay if since_last else None):
            replay.apply(row)
            if row.change_id is None:
                summary.without_history[row.table] = summary.without_history.get(row.table, 0) + 1
            tick(row.table, 1)
            if len(replay._events) >= BATCH:
                writer.write(replay.take_events())
        writer.write(replay.take_events())
        if catalog is not None:
            _refuse_contradictions(source, catalog, V2Side(replay.v2_releases, replay.v2_scheduled))
        summary.rows = {k: v for k, v in replay.report.rows.items() if v}
        summary.events = dict(replay.report.events)
        summary.first = describe_moment(replay.report.first_ms)
        summary.last = describe_moment(replay.report.last_ms)
        summary.skipped = dict(replay.report.skipped)
        unsupported = source.present_unsupported()
        for table, count in unsupported.items():
            summary.skipped[f"{table}: history of v2 scheduled changes, not imported"] = count
        summary.skipped.update(v2.skipped)
        summary.v2_scheduled_changes = replay.v2_scheduled
        summary.v2_notes = v2.notes + (pending_left_out(app, v2) if since_last else [])
        if unsupported:
            summary.v2_notes.append(V2_SC_HISTORY_NOT_IMPORTED)
        summary.gap_count = len(replay.report.gaps)
        summary.gaps = replay.report.gaps[:GAPS_LISTED]
        summary.seconds = time.perf_counter() - started
        moment = (
            datetime.fromtimestamp(replay.report.last_ms / 1000, tz=UTC)
            if replay.report.last_ms is not None
            else None
        )
        if not (since_last and not summary.events_total and marks == since):
            change_ids = writer.positioned(replay.change_ids)
            writer.write(
                _record_marks(marks_agg, source, marks, imported_by, summary, moment, change_ids)
            )
        if not since_last:
            writer.snapshots(app, replay.aggregates())
    return summary


def _pending_v2(v2: BalrogV2Source, replay: V2Replay, start: int) -> Iterator[HistoryRow]:
    """The pending v2 changes, merged per release, as of the last imported time."""
    yield from v2.pending_rows(replay.report.last_ms or start)


def _read_ahead(rows: Iterator[HistoryRow], replay: V2Replay | None) -> Iterator[HistoryRow]:
    """The rows, with the stored aggregates each stretch is about read in one statement."""
    if replay is None:
        yield from rows
        return
    while chunk := list(islice(rows, READ_AHEAD)):
        replay.prefetch(chunk)
        yield from chunk


def _releases_changed_since(
    app: RulelogApp, source: BalrogSource, v2_names: set[str]
) -> list[HistoryRow]:
    """Releases Balrog changed since the import, for a catch-up.

    Current Balrog keeps no release history in its database, so high-water
    marks cannot find these: a release whose data_version differs from the
    store's (or that is new) is brought over as its current row, one that is
    gone as a deletion, at the time of the catch-up. The store's releases are
    read in batches of one statement each. Names in ``releases_json`` are v2
    releases (``v2_changed_since``).
    """
    now = int(time.time() * 1000)
    theirs = {v["name"]: v for v in source.current("releases")}
    created = read_notifications(app, topics=(Release.Created.TOPIC,))
    names = (set(theirs) | {decode(app, n).event.name for n in created}) - v2_names
    rows = []
    ordered = sorted(names)
    for start in range(0, len(ordered), RELEASE_READS):
        chunk = ordered[start : start + RELEASE_READS]
        found = app.reader.get_many([ids.release_id(name) for name in chunk])
        for name in chunk:
            release = found.get(ids.release_id(name))
            live = release is not None and not release.deleted
            values = theirs.get(name)
            if values is None and live:
                rows.append(HistoryRow("releases", None, UNKNOWN_ACTOR, now, {"name": name}))
            elif values is not None and (
                not live or release.data_version != values["data_version"]
            ):
                rows.append(HistoryRow("releases", None, UNKNOWN_ACTOR, now, values))
    return rows


def _record_marks(
    marks_agg: BalrogImport | None,
    source: BalrogSource,
    marks: dict[str, int],
    imported_by: str,
    summary: BalrogImportSummary,
    moment: datetime | None,
    change_ids: dict[str, IdPairs],
) -> list[Any]:
    """The high-water marks' event, at the last imported time (so the index stays put)."""
    data = summary.as_json()
    kw: dict[str, Any] = {"timestamp": moment} if moment is not None else {}
    kw["change_ids"] = {table: pairs.encode() for table, pairs in change_ids.items()}
    if marks_agg is None:
        agg = BalrogImport._create(
            BalrogImport.Created,
            source=source.safe_url,
            marks=marks,
            imported_by=imported_by,
            summary=data,
            **kw,
        )
    else:
        agg = marks_agg
        agg.trigger_event(
            BalrogImport.CaughtUp, marks=marks, imported_by=imported_by, summary=data, **kw
        )
    return list(agg.collect_events())


def _refuse_contradictions(source: BalrogSource, catalog: Catalog, v2: V2Side) -> None:
    catalog.settle()
    ours = rulelog_side(catalog, v2)
    found = differences(balrog_rows(source), ours)
    first = next(found, None)
    if first is not None:
        more = sum(1 for _ in found)
        tail = f" (and {more} more differences)" if more else ""
        raise ImportRowError(
            f"the history does not end in the current row: {first}{tail}; nothing imported"
        )


class _Writer:
    """Writes batches of events inside one transaction of the event store."""

    def __init__(self, app: RulelogApp, catalog: Catalog | None, dry_run: bool) -> None:
        self.app = app
        self.catalog = catalog
        self.dry_run = dry_run
        self.position = self.first = last_position(app)
        self._transaction: Any = None
        self._locked = False
        self.session: Any = None

    def __enter__(self) -> _Writer:
        if not self.dry_run:
            self._transaction = self.app.recorder.datastore.transaction(commit=True)  # type: ignore[attr-defined]
            self.session = self._transaction.__enter__()
        if self.catalog is not None:
            self._digests = self.catalog.digests_deferred()
            self._digests.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.catalog is not None:
            self._digests.__exit__(*exc)
        if self._transaction is not None:
            self._transaction.__exit__(*exc)

    def write(self, events: list[Any]) -> None:
        if not events:
            return
        if self.catalog is not None:
            for offset, event in enumerate(events, start=1):
                self.catalog.apply_event(self.position + offset, event)
        self.position += len(events)
        if self.dry_run:
            return
        recorder: Any = self.app.recorder
        if not self._locked:
            # As the recorder does for every save: on PostgreSQL, positions are handed
            # out in commit order only under its table lock (held to the commit).
            recorder._lock_table(self.session)
            self._locked = True
        # Core executemany into the recorder's own table: the ORM unit of work the
        # recorder uses costs more than the rest of the import together.
        self._insert(recorder, [self.app.mapper.to_stored_event(e) for e in events])

    def positioned(self, ordinals: dict[str, IdPairs]) -> dict[str, IdPairs]:
        """Each table's ``(event ordinal, change_id)`` pairs as ``(position, change_id)``.

        The n-th event written is at the first position plus n when the positions
        are contiguous, as they are unless the store's sequence skipped values (a
        PostgreSQL sequence keeps those a rolled-back write took): then they are read.
        """
        positions: list[int] | None = None
        if not self.dry_run and self.session is not None:
            table = self.app.recorder.events_record_cls.__table__  # type: ignore[attr-defined]
            after = table.c.id > self.first
            count, top = self.session.execute(
                select(func.count(), func.max(table.c.id)).where(after)
            ).one()
            if count and top != self.first + count:
                found = self.session.execute(select(table.c.id).where(after).order_by(table.c.id))
                positions = [int(p) for (p,) in found]
        first = self.first

        def position_of(ordinal: int) -> int:
            return positions[ordinal - 1] if positions else first + ordinal

        return {t: pairs.with_firsts(position_of) for t, pairs in ordinals.items()}

    def _insert(self, recorder: Any, stored: list[Any]) -> None:
        rows = [
            {
                "originator_id": s.originator_id,
                "originator_version": s.originator_version,
                "topic": s.topic,
                "state": s.state,
            }
            for s in stored
        ]
        self.session.execute(insert(recorder.events_record_cls.__table__), rows)

    def snapshots(self, app: RulelogApp, aggregates: list[Aggregate]) -> None:
        """Snapshots of the imported streams (not of releases, whose blobs the replay
        does not keep in memory)."""
        if self.dry_run or app.snapshots is None:
            return
        taken = []
        for agg in aggregates:
            # Every stream of the import ends in a snapshot (one row each): a catch-up,
            # and every command after the switch, reads one row instead of a replay.
            if agg.version >= SNAPSHOT_FROM and not isinstance(agg, Release):
                snapshot_class = getattr(type(agg), "Snapshot", type(app).snapshot_class)
                taken.append(app.mapper.to_stored_event(snapshot_class.take(agg)))
        for start in range(0, len(taken), BATCH):
            self._insert(app.snapshots.recorder, taken[start : start + BATCH])


def history_row_counts(source: BalrogSource, since: dict[str, int] | None = None) -> dict[str, int]:
    """How many history rows an import will read from each table (for its progress bar)."""
    return source.count_history(since)
