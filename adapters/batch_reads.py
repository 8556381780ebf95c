"""Reading several aggregates in one statement, with a version-checked cache.

``eventsourcing``'s ``Repository.get`` reads one aggregate in two read
transactions when the application takes snapshots (the latest snapshot, then
the events after it), even for aggregates that are never snapshotted. A
command reads several aggregates (the row it changes, the acting user, the
signoff policies, the row's pending-change lock), so on PostgreSQL that is
many round trips before the one write.

``BatchReader.get_many`` reads any number of aggregates in *one* statement
over the application's stored-events and snapshots tables (the latest
snapshot of each, and the events after it), so what it returns is one
consistent state of the store. It honours snapshots exactly as the repository
does, and decodes with the application's own mapper.

Rarely-changing aggregates (the acting ``User``, the ``SignoffPolicies``
singleton: see ``RulelogApp.cached_aggregates``) are kept decoded, with their
version. Such a cache is never trusted blindly: the same statement asks the
store for every event after the cached version (the repository cache's
"fast-forward", done for all the aggregates of a command at once), so a
permission revoked or a policy added before the read is always seen; the
cache only saves decoding and replaying what is already known. Callers get
their own deep copies, so a command's changes never leak into the cache.

Stores other than ``eventsourcing-sqlalchemy`` (the in-memory POPO store of
the unit tests) are read id by id through the recorders, with the same cache.
"""

from __future__ import annotations

import copy
import threading
from collections import OrderedDict
from collections.abc import Iterable
from itertools import chain
from typing import Any
from uuid import UUID

from eventsourcing.application import Application, project_aggregate
from eventsourcing.persistence import StoredEvent
from sqlalchemy import and_, bindparam, func, literal_column, or_, select, union_all
from sqlalchemy.sql import Select

try:  # the datastore's "transaction in progress in this context"
    from eventsourcing_sqlalchemy.datastore import transactions as _datastore_transactions
except ImportError:  # pragma: no cover - the SQL path is then never taken
    from contextvars import ContextVar

    _datastore_transactions = ContextVar("no_sqlalchemy_transactions")

#: How many cached aggregates a reader keeps (least recently used go first).
CACHE_MAXSIZE = 1000

_Rows = dict[UUID, tuple[StoredEvent | None, list[StoredEvent]]]


def _table_of(recorder: object) -> Any:
    record_cls = getattr(recorder, "events_record_cls", None)
    return record_cls.__table__ if record_cls is not None else None


class BatchReader:
    """One statement for several aggregates; cached ones only fast-forwarded."""

    def __init__(
        self,
        app: Application[UUID],
        cached_types: tuple[type, ...] = (),
        cache_maxsize: int = CACHE_MAXSIZE,
    ) -> None:
        self._app = app
        self._cached_types = cached_types
        self._maxsize = cache_maxsize
        self._cache: OrderedDict[UUID, Any] = OrderedDict()
        self._lock = threading.Lock()
        self._statements: dict[tuple[bool, int], Any] = {}
        # The tables of eventsourcing-sqlalchemy's recorders, if that is the store.
        self._datastore = getattr(app.recorder, "datastore", None)
        self._events = _table_of(app.recorder)
        self._snapshots = _table_of(app.snapshots.recorder) if app.snapshots else None
        self._sql = (
            hasattr(self._datastore, "transaction")
            and self._events is not None
            and (app.snapshots is None or self._snapshots is not None)
        )

    # ------------------------------------------------------------ reading

    def get_many(self, aggregate_ids: Iterable[UUID]) -> dict[UUID, Any]:
        """The current state of each aggregate that exists (absent ids are left out).

        Every aggregate returned is the caller's own copy.
        """
        wanted = list(dict.fromkeys(aggregate_ids))
        if not wanted:
            return {}
        with self._lock:
            cached = {i: self._cache[i] for i in wanted if i in self._cache}
            for i in cached:
                self._cache.move_to_end(i)
        floors = {i: agg.version for i, agg in cached.items()}
        rows = self._read_sql(wanted, floors) if self._sql else self._read_each(wanted, floors)
        found: dict[UUID, Any] = {}
        for aggregate_id in wanted:
            snapshot, events = rows.get(aggregate_id, (None, []))
            known = cached.get(aggregate_id)
            if known is not None and not events:
                found[aggregate_id] = copy.deepcopy(known)
                continue
            aggregate = self._project(known, snapshot, events)
            if aggregate is None:
                continue
            if isinstance(aggregate, self._cached_types):
                self._remember(aggregate_id, aggregate)
                aggregate = copy.deepcopy(aggregate)
            found[aggregate_id] = aggregate
        return found

    def _project(self, known: Any, snapshot: StoredEvent | None, events: list[StoredEvent]) -> Any:
        to_event = self._app.mapper.to_domain_event
        start = copy.deepcopy(known) if known is not None else None
        stored = chain([snapshot] if snapshot is not None and known is None else [], events)
        return project_aggregate(start, (to_event(s) for s in stored))

    def _remember(self, aggregate_id: UUID, aggregate: Any) -> None:
        with self._lock:
            current = self._cache.get(aggregate_id)
            if current is not None and current.version >= aggregate.version:
                return  # another thread already cached this version or a newer one
            self._cache[aggregate_id] = aggregate
            self._cache.move_to_end(aggregate_id)
            while len(self._cache) > self._maxsize:
                self._cache.popitem(last=False)

    # ------------------------------------------------------------ the stores

    def _read_each(self, wanted: list[UUID], floors: dict[UUID, int]) -> _Rows:
        """Any recorder: the repository's two reads per aggregate, one aggregate at a time."""
        rows: _Rows = {}
        recorder = self._app.recorder
        for aggregate_id in wanted:
            snapshot: StoredEvent | None = None
            gt = floors.get(aggregate_id)
            if gt is None and self._app.snapshots is not None:
                latest = self._app.snapshots.recorder.select_events(
                    aggregate_id, desc=True, limit=1
                )
                if latest:
                    snapshot = latest[0]
                    gt = snapshot.originator_version
            events = recorder.select_events(aggregate_id, gt=gt)
            if snapshot is not None or events:
                rows[aggregate_id] = (snapshot, list(events))
        return rows

    def _read_sql(self, wanted: list[UUID], floors: dict[UUID, int]) -> _Rows:
        """eventsourcing-sqlalchemy: everything in one statement, so one state of the store."""
        fresh = [i for i in wanted if i not in floors]
        known = [i for i in wanted if i in floors]
        statement = self._statement(bool(fresh), len(known))
        params: dict[str, Any] = {}
        if fresh:
            params["fresh"] = fresh
        for n, aggregate_id in enumerate(known):
            params[f"id_{n}"] = aggregate_id
            params[f"gt_{n}"] = floors[aggregate_id]
        snapshots: dict[UUID, StoredEvent] = {}
        events: dict[UUID, list[StoredEvent]] = {}
        for is_snapshot, originator_id, version, topic, state in self._execute(statement, params):
            stored = StoredEvent(
                originator_id=originator_id,
                originator_version=version,
                topic=topic,
                state=bytes(state) if isinstance(state, memoryview) else state,
            )
            if is_snapshot:
                snapshots[originator_id] = stored
            else:
                events.setdefault(originator_id, []).append(stored)
        rows: _Rows = {}
        for aggregate_id in wanted:
            listed = sorted(events.get(aggregate_id, ()), key=lambda s: s.originator_version)
            snapshot = snapshots.get(aggregate_id)
            if snapshot is not None or listed:
                rows[aggregate_id] = (snapshot, listed)
        return rows

    def _execute(self, statement: Any, params: dict[str, Any]) -> list[Any]:
        """Run the one read statement.

        A single statement sees one state of the store whatever the transaction
        around it, so on PostgreSQL (outside a transaction of this context) it runs
        in autocommit: no BEGIN and ROLLBACK round trips around it. Elsewhere it
        goes through the datastore's transaction (its locks, its session).
        """
        datastore: Any = self._datastore
        engine = datastore.engine
        if (
            engine is not None
            and engine.dialect.name == "postgresql"
            and datastore.scoped_session is None
            and _datastore_transactions.get(None) is None
        ):
            # get_connection turns driver errors into eventsourcing's, as its reads do.
            with datastore.get_connection() as conn, conn:
                conn.execution_options(isolation_level="AUTOCOMMIT")
                return list(conn.execute(statement, params))
        with datastore.transaction(commit=False) as session:
            return list(session.execute(statement, params))

    def _statement(self, with_fresh: bool, known: int) -> Any:
        """The statement for some uncached ids and ``known`` cached ones (built once per shape)."""
        key = (with_fresh, known)
        statement = self._statements.get(key)
        if statement is None:
            statement = self._build(with_fresh, known)
            self._statements[key] = statement
        return statement

    def _build(self, with_fresh: bool, known: int) -> Any:
        ev = self._events.alias("e")
        conditions = []
        parts: list[Select[Any]] = []
        if with_fresh:
            fresh = bindparam("fresh", expanding=True, type_=ev.c.originator_id.type)
            if self._snapshots is not None:
                latest_snapshot = self._snapshots.alias("s")
                newer = self._snapshots.alias("s2")
                parts.append(
                    select(
                        literal_column("1").label("is_snapshot"),
                        latest_snapshot.c.originator_id,
                        latest_snapshot.c.originator_version,
                        latest_snapshot.c.topic,
                        latest_snapshot.c.state,
                    ).where(
                        latest_snapshot.c.originator_id.in_(fresh),
                        latest_snapshot.c.originator_version
                        == select(func.max(newer.c.originator_version))
                        .where(newer.c.originator_id == latest_snapshot.c.originator_id)
                        .scalar_subquery(),
                    )
                )
                covered = self._snapshots.alias("s3")
                floor = func.coalesce(
                    select(func.max(covered.c.originator_version))
                    .where(covered.c.originator_id == ev.c.originator_id)
                    .scalar_subquery(),
                    0,
                )
                conditions.append(
                    and_(ev.c.originator_id.in_(fresh), ev.c.originator_version > floor)
                )
            else:
                conditions.append(ev.c.originator_id.in_(fresh))
        id_type, version_type = ev.c.originator_id.type, ev.c.originator_version.type
        for n in range(known):
            conditions.append(
                and_(
                    ev.c.originator_id == bindparam(f"id_{n}", type_=id_type),
                    ev.c.originator_version > bindparam(f"gt_{n}", type_=version_type),
                )
            )
        parts.append(
            select(
                literal_column("0").label("is_snapshot"),
                ev.c.originator_id,
                ev.c.originator_version,
                ev.c.topic,
                ev.c.state,
            ).where(or_(*conditions))
        )
        return parts[0] if len(parts) == 1 else union_all(*parts)
