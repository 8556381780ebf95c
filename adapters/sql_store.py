"""The SQL event store's recorder, with the log read through SQLAlchemy Core.

``eventsourcing-sqlalchemy``'s application recorder reads notifications and
the head of the log through an ORM ``Session.query``: every row becomes a
mapped instance with its identity-map state, expired again when the session
ends, before it is copied into a ``Notification``. On a 1.17M-event store that
was 21 s of the 30 s a read-and-decode pass took, and every projection reads
the log that way (the timeline, the listings, the serving nodes' follow).

This recorder selects the same columns with Core in the datastore's own
transaction (so a read inside an ``AtomicAppender`` block still sees what the
block appended), under the same conditions and order; what it returns is
what the base class returns. Writes are the base class's.

``pg_appends.OneTripRecorder`` (PostgreSQL's appends in one statement) builds
on it, and its factory is what an application names in ``PERSISTENCE_MODULE``.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from typing import Any
from uuid import UUID, SafeUUID

from eventsourcing.persistence import Notification
from eventsourcing_sqlalchemy.datastore import transactions
from eventsourcing_sqlalchemy.recorders import SQLAlchemyApplicationRecorder
from sqlalchemy import Select, Table, func, select, type_coerce
from sqlalchemy.engine import Connection
from sqlalchemy.types import NullType


class SQLApplicationRecorder(SQLAlchemyApplicationRecorder):
    """Notifications and the log's head read with Core; see the module's docstring."""

    @property
    def _events(self) -> Table:
        return self.events_record_cls.__table__  # type: ignore[attr-defined,no-any-return]

    @contextmanager
    def _reading(self) -> Iterator[Connection]:
        """A connection for one read: on PostgreSQL, outside any transaction in
        progress, an autocommit one, so the read is one round trip (the datastore's
        transaction adds a ``BEGIN`` and a ``ROLLBACK``: a node's heartbeat asks
        for the head several times a second); otherwise the datastore's own
        transaction, which sees what a block in progress has appended."""
        engine = self.datastore.engine
        if (
            engine is not None
            and engine.dialect.name == "postgresql"
            and transactions.get(None) is None
        ):
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                yield conn
            return
        with self.transaction(commit=False) as session:
            yield session.connection()

    def _select_notifications(self) -> Select[Any]:
        """The columns of a ``Notification``, in its fields' order (``_notifications``)."""
        columns = self._events.c
        return select(
            columns.id,
            columns.originator_id,
            columns.originator_version,
            columns.topic,
            columns.state,
        )

    def max_notification_id(self) -> int | None:
        with self._reading() as conn:
            return conn.execute(select(func.max(self._events.c.id))).scalar()  # type: ignore[no-any-return]

    def select_notifications(
        self,
        start: int | None,
        limit: int,
        stop: int | None = None,
        topics: Sequence[str] = (),
        *,
        inclusive_of_start: bool = True,
    ) -> list[Notification]:
        columns = self._events.c
        query = self._select_notifications()
        if start is not None:
            query = query.where(columns.id >= start if inclusive_of_start else columns.id > start)
        if stop is not None:
            query = query.where(columns.id <= stop)
        if topics:
            query = query.where(columns.topic.in_(topics))
        query = query.order_by(columns.id).limit(limit)
        with self._reading() as conn:
            return _notifications(conn.execute(query).all())

    def select_aggregate_notifications(
        self, originator_id: UUID, stop: int | None = None
    ) -> list[Notification]:
        """The notifications of one aggregate's events, up to position ``stop``, in
        log order.

        Found through the ``(originator_id, originator_version)`` index: a reader
        of one rare aggregate (the Balrog import's, which every serving node
        reads as it starts) asking by topic instead would scan the whole events
        table, seconds at millions of events.
        """
        columns = self._events.c
        query = self._select_notifications().where(columns.originator_id == originator_id)
        if stop is not None:
            query = query.where(columns.id <= stop)
        with self._reading() as conn:
            return _notifications(conn.execute(query.order_by(columns.id)).all())

    def select_positions(
        self, start: int, limit: int, stop: int | None, wanted: Collection[str]
    ) -> list[Notification | tuple[int, bytes]]:
        """Every position from ``start`` (up to ``limit``, and to ``stop``): a
        notification for an event of a ``wanted`` topic, the stored state alone
        (``(id, state)``) for any other.

        For a reader that decodes some events and needs only the time of the
        others (a rebuild: the index aggregates' events are about two fifths of
        a log), each of which would otherwise cost a UUID made by the column's
        type in Python, and a ``Notification``. The originator id is read as the
        driver gives it (16 bytes on SQLite, a UUID from psycopg).
        """
        columns = self._events.c
        query = (
            select(
                columns.id,
                type_coerce(columns.originator_id, NullType()),
                columns.originator_version,
                columns.topic,
                columns.state,
            )
            .where(columns.id >= start)
            .order_by(columns.id)
            .limit(limit)
        )
        if stop is not None:
            query = query.where(columns.id <= stop)
        with self._reading() as conn:
            rows = conn.execute(query).all()
        found: list[Notification | tuple[int, bytes]] = []
        for position, originator, version, topic, state in rows:
            stored = bytes(state) if isinstance(state, memoryview) else state
            if topic in wanted:
                found.append(
                    Notification(
                        id=position,
                        originator_id=_uuid(originator),
                        originator_version=version,
                        topic=topic,
                        state=stored,
                    )
                )
            else:
                found.append((position, stored))
        return found


def _notifications(rows: Sequence[Any]) -> list[Notification]:
    """Rows of (id, originator id, version, topic, state) as the base class returns them."""
    return [
        Notification(
            id=position,
            originator_id=originator,
            originator_version=version,
            topic=topic,
            state=bytes(state) if isinstance(state, memoryview) else state,
        )
        for position, originator, version, topic, state in rows
    ]


def _uuid(raw: Any) -> UUID:
    """A driver's originator id as a UUID: as given, or from its 16 bytes without
    ``UUID.__init__``'s checks of arguments it was not given."""
    if isinstance(raw, UUID):
        return raw
    if isinstance(raw, bytes | memoryview) and len(raw) == 16:
        made = object.__new__(UUID)
        object.__setattr__(made, "int", int.from_bytes(raw, "big"))
        object.__setattr__(made, "is_safe", SafeUUID.unknown)
        return made
    return UUID(str(raw))
