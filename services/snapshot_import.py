"""Importing a Balrog snapshot of any size: validated whole, written as one fact.

An import used to plan every aggregate, then ``save`` them all at once: on a
snapshot of 100,000 rules and 10,000 releases that peaked at 1.4 GB (the
parsed file, 130,000 aggregates with their pending events, and the stored
form of all 230,000 events in one statement). Now it is two passes:

1. **Plan** (``domain.catalog.snapshot.plan_aggregates``): every item is
   validated in turn, with the checks across items (ids, aliases, release
   names, what maps to what), and each aggregate's events are encoded as
   soon as it is planned and set aside in an ``EventSpool`` -- a temporary
   file once past a few megabytes -- and the aggregate dropped. A bad item
   anywhere stops the import here, before anything is written: the store is
   untouched, no lock was taken, and the error names the item and field.
2. **Write** (``adapters.batch_writes.AtomicAppender``): the spooled events,
   batch by batch, inside one transaction of the event store, committed at
   the end. Positions are consecutive and in the order planned (the order
   one ``save`` of them all would give); the snapshots ``save`` would have
   taken (an aggregate reaching a multiple of its snapshotting interval, as
   a release mapped by 50 rules does) are taken inside the same transaction.

Memory is then bounded by a batch (``BATCH`` events) and by what the checks
across items keep (a few bytes per item), not by the snapshot. The spool is
written once and read once, so nothing is parsed or validated twice; it takes
about the size of the events on disk (in ``TMPDIR``) for the import's length.
The application keeps no aggregate between the passes: its repository has no
cache, and the batch reader caches users and signoff policies only.

A failure while writing (a full disk, a lost connection) rolls the whole
transaction back too. On PostgreSQL the events table's sequence then keeps
the positions the rolled-back rows took, as after any failed ``save``: the
next write's positions are consecutive but follow a gap. A bad item never
gets that far.

The first attempt assumes the rows it creates are new (no reads); if one
exists, the write meets the store's unique constraint, everything is rolled
back and the snapshot is planned again with lookups, which names the clash
(or continues a deleted row's stream) -- as the one-save import did.
"""

from __future__ import annotations

import pickle
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any
from uuid import UUID

from eventsourcing.persistence import IntegrityError

from rulelog.adapters.batch_writes import AtomicAppender, Row
from rulelog.adapters.snapshot_file import JsonFileSnapshot
from rulelog.domain.catalog.snapshot import (
    ImportCounts,
    ImportSummary,
    SnapshotSource,
    plan_aggregates,
)
from rulelog.domain.errors import Conflict
from rulelog.services.app_base import AppBase

#: Events per batch: the spool's unit, and one INSERT statement's.
BATCH = 2000
#: A spool stays in memory up to this many bytes, then moves to a temporary file.
SPOOL_IN_MEMORY = 16 * 1024 * 1024

#: ``progress(phase, n)``: ``n`` more items validated ("validating") or events
#: written ("writing").
Progress = Callable[[str, int], None]


def snapshot_file(path: Path) -> SnapshotSource:
    """The snapshot in a JSON file, parsed item by item when imported."""
    return JsonFileSnapshot(path)


class EventSpool:
    """Encoded events set aside in order, read back in batches (each batch pickled).

    Only this process writes and reads the file, which is deleted on close.
    """

    def __init__(self, batch: int | None = None) -> None:
        # Closed by ``__exit__``: the spool is used as a context manager.
        self._file: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)  # noqa: SIM115
        self._batch = batch or BATCH
        self._pending: list[Row] = []
        self.count = 0

    def __enter__(self) -> EventSpool:
        return self

    def __exit__(self, *exc: object) -> None:
        self._file.close()

    def add(self, row: Row) -> None:
        self._pending.append(row)
        self.count += 1
        if len(self._pending) >= self._batch:
            self._set_aside()

    def _set_aside(self) -> None:
        if self._pending:
            pickle.dump(self._pending, self._file, protocol=pickle.HIGHEST_PROTOCOL)
            self._pending = []

    def batches(self) -> Iterator[list[Row]]:
        """Every event added, in order, a batch at a time (once)."""
        self._set_aside()
        self._file.seek(0)
        while True:
            try:
                yield pickle.load(self._file)
            except EOFError:
                return


def import_streamed(
    app: AppBase, source: SnapshotSource, changed_by: str, progress: Progress | None = None
) -> ImportSummary:
    """Plan the whole snapshot, then write it in one transaction; or write nothing."""
    try:
        return _attempt(app, source, changed_by, progress, assume_new=True)
    except IntegrityError:
        pass  # something it creates exists: plan again with lookups, to name it
    try:
        return _attempt(app, source, changed_by, progress, assume_new=False)
    except IntegrityError as error:
        raise Conflict("the store changed while the import was prepared; nothing saved") from error


def _attempt(
    app: AppBase,
    source: SnapshotSource,
    changed_by: str,
    progress: Progress | None,
    *,
    assume_new: bool,
) -> ImportSummary:
    report: Progress = progress or (lambda _phase, _n: None)
    counts = ImportCounts()
    intervals: dict[type, int] = dict(app.snapshotting_intervals or {})
    to_stored = app.mapper.to_stored_event
    due: list[tuple[UUID, int]] = []  # snapshots ``save`` would take
    with EventSpool() as spool:
        planned = plan_aggregates(
            source,
            app.find,
            changed_by,
            counts,
            lambda n: report("validating", n),
            assume_new=assume_new,
        )
        for aggregate in planned:
            interval = intervals.get(type(aggregate))
            for event in aggregate.collect_events():
                stored = to_stored(event)
                spool.add(
                    (stored.originator_id, stored.originator_version, stored.topic, stored.state)
                )
                if interval and event.originator_version % interval == 0:
                    due.append((event.originator_id, event.originator_version))
        with AtomicAppender(app) as appender:
            for batch in spool.batches():
                appender.append(batch)
                report("writing", len(batch))
            appender.flush()
            for aggregate_id, version in due:
                app.take_snapshot(aggregate_id, version=version)
        return ImportSummary(events=spool.count, **_as_dict(counts))


def _as_dict(counts: ImportCounts) -> dict[str, Any]:
    return dict(counts.__dict__)
