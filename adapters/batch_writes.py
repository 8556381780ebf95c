"""Appending many events in batches, as one transaction of the event store.

``Application.save`` writes every event it is given in one statement of one
transaction: atomic, but all of them (and their ORM records) are in memory
at once. For a write of hundreds of thousands of events (a snapshot import)
``AtomicAppender`` opens the datastore's transaction itself, appends batch
after batch inside it, and commits once at the end, or rolls everything back
if anything fails: readers see all of it or none of it, on SQLite and on
PostgreSQL alike.

What the recorder does for each ``save`` is kept: on PostgreSQL the events
table is locked (``LOCK TABLE ... IN EXCLUSIVE MODE``, held to the commit)
before the first insert, so positions are handed out in commit order and the
import's events have consecutive positions, in the order appended; listeners
are notified once. The batches are Core ``INSERT``s (executemany) into the
recorder's own table: its ORM unit of work costs more than planning the
events, and the rows are not kept by a session afterwards.

Code that runs inside the block and reads or saves through the application
(``take_snapshot``) joins the same transaction (the datastore keeps the one
in progress in a context variable), so it sees the rows appended so far.

Other recorders (the in-memory store of the unit tests) get every event in
one ``insert_events`` call when the block ends normally (``flush``), which is
their own all-or-nothing write.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.persistence import StoredEvent
from sqlalchemy import insert

#: A stored event as a plain tuple: originator id, version, topic, state.
Row = tuple[UUID, int, str, bytes]
_COLUMNS = ("originator_id", "originator_version", "topic", "state")


class AtomicAppender:
    """``with AtomicAppender(app) as out: out.append(rows) ...``: one transaction."""

    def __init__(self, app: Application[UUID]) -> None:
        self.app = app
        self.recorder: Any = app.recorder
        datastore = getattr(self.recorder, "datastore", None)
        self._datastore: Any = datastore
        self._sql = hasattr(datastore, "transaction") and hasattr(
            self.recorder, "events_record_cls"
        )
        self._transaction: Any = None
        self._session: Any = None
        self._statement: Any = None
        self._buffered: list[StoredEvent] = []
        self.appended = 0

    def __enter__(self) -> AtomicAppender:
        if self._sql:
            # Taking the transaction takes the datastore's write lock (SQLite) too.
            self._transaction = self._datastore.transaction(commit=True)
            self._session = self._transaction.__enter__()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Commit, or (on any exception, raised here in eventsourcing's terms) roll back."""
        if self._transaction is None:
            return
        if error is None and self._statement is not None:
            notify = getattr(self.recorder, "_notify_channel", None)
            if notify is not None:
                notify(self._session)
        self._transaction.__exit__(kind, error, traceback)

    def append(self, rows: list[Row]) -> None:
        """Write these events after those appended before (uncommitted until the end)."""
        if not rows:
            return
        self.appended += len(rows)
        if not self._sql:
            self._buffered.extend(StoredEvent(*row) for row in rows)
            return
        if self._statement is None:
            self.recorder._lock_table(self._session)
            self._statement = insert(self.recorder.events_record_cls.__table__)
        values = [dict(zip(_COLUMNS, row, strict=True)) for row in rows]
        self._session.execute(self._statement, values)

    def flush(self) -> None:
        """Make what was appended readable inside the block (other recorders: write it now)."""
        if self._buffered:
            self.recorder.insert_events(self._buffered)
            self._buffered = []
