"""Appending to a PostgreSQL store in one round trip: lock, insert and notify in one statement.

eventsourcing-sqlalchemy's application recorder appends in a transaction of
its own: ``BEGIN``, ``LOCK TABLE <events> IN EXCLUSIVE MODE``, the ORM's
``INSERT``, ``NOTIFY <events>``, ``COMMIT``, each a round trip to the server.
The lock is what keeps positions (notification ids) committed in the order
they are handed out, so a follower reading by id never steps over a row that
commits later; but it is held from the ``LOCK`` to the ``COMMIT``, across
three round trips. On a loaded 2-core machine each round trip waits for a CPU
on both sides, so the lock is held for milliseconds and every other writer of
the store queues behind it (``bench/scale.py`` stopped at 47 commits/s).

``OneTripRecorder`` keeps every guarantee and moves the critical section
server-side: a PL/pgSQL function (one per events table, created idempotently
with the tables) takes the same lock, inserts all of a save's events in
order, returns their notification ids and notifies the same channel, and is
called in one statement on an autocommit connection, so the statement's own
transaction commits with it. The lock is held for server time only; no
client round trip happens while it is held. (It is still held through the
commit's WAL flush, as PostgreSQL releases locks after it: on this machine's
disk that flush, not round trips, is now what bounds appends per second;
``bench/appends.py`` measures both recorders.)

* A duplicate ``(originator_id, originator_version)`` aborts the statement,
  hence its transaction: nothing of the save is written, and the error is
  eventsourcing's ``IntegrityError`` as before (optimistic concurrency).
* Called inside a datastore transaction already in progress (code that joins
  ``AtomicAppender``'s transaction, or a caller passing ``session``), the
  function runs in that transaction and its lock and notification last to
  that transaction's commit, as the stock recorder's do.
* ``_lock_table`` and ``_notify_channel`` are inherited unchanged: the batch
  writers (``adapters.batch_writes``, the Balrog import) still lock and notify
  themselves around their Core inserts.
* Any other database (SQLite) takes the stock recorder's path untouched; the
  in-memory store never sees this factory.

A store created by the stock recorder needs nothing but the function, which
``create_table`` (or the first append, if tables are not created) adds; both
recorders may append to one store meanwhile (a rolling upgrade), as they take
the same lock. A process whose database user may not create it (a read-only
user, a standby, no ``CREATE`` on the schema) appends the stock way, if it
may append at all, and says so once.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy.exc
import structlog
from eventsourcing.persistence import PersistenceError, StoredEvent
from eventsourcing_sqlalchemy.datastore import exception_classes, transactions
from eventsourcing_sqlalchemy.factory import SQLAlchemyFactory
from sqlalchemy import text
from sqlalchemy.orm import Session

from rulelog.adapters.sql_store import SQLApplicationRecorder

__all__ = ["OneTripFactory", "OneTripRecorder"]

#: The function's argument types, in the order it takes them (also its signature).
_ARGUMENTS = "uuid[], bigint[], text[], bytea[]"
#: Bumped when the function's body changes: a new name, so stores holding an
#: older one get the new one beside it, with no replacement race between processes.
_VERSION = 1
#: SQLSTATEs that say this user may not create the function here: insufficient
#: privilege, read-only transaction (``default_transaction_read_only``, a standby).
_NOT_ALLOWED = frozenset({"42501", "25006"})

log = structlog.get_logger("rulelog.store")


class OneTripRecorder(SQLApplicationRecorder):
    """The SQL recorder (Core reads) whose PostgreSQL appends are one statement."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        engine = self.datastore.engine
        self._one_trip = (
            engine is not None
            and engine.dialect.name == "postgresql"
            and self.datastore.scoped_session is None
        )
        #: Whether the function is there: None until looked for, False if it cannot be made.
        self._function_ready: bool | None = None
        if self._one_trip:
            assert engine is not None
            quote = engine.dialect.identifier_preparer
            name = f"{self.events_table_name}_append_v{_VERSION}"
            self.check_identifier_length(name)
            prefix = f"{quote.quote_schema(self.schema_name)}." if self.schema_name else ""
            self.append_function = prefix + quote.quote(name)
            self._table_sql = prefix + quote.quote(self.events_table_name)
            self._call = text(
                f"SELECT id FROM {self.append_function}(CAST(:ids AS uuid[]),"
                " CAST(:versions AS bigint[]), CAST(:topics AS text[]),"
                " CAST(:states AS bytea[])) AS id"
            )

    # ------------------------------------------------------------ the function

    def create_table(self) -> None:
        super().create_table()
        if self._one_trip:
            self._ensure_function()

    def _function_sql(self) -> str:
        # NOTIFY names the channel unquoted, so the server folds it to lower case.
        channel = self.channel_name.lower().replace("'", "''")
        table = self._table_sql
        return f"""
CREATE FUNCTION {self.append_function}(
    p_ids uuid[], p_versions bigint[], p_topics text[], p_states bytea[]
) RETURNS SETOF bigint LANGUAGE plpgsql AS $append$
BEGIN
    -- First, before the insert takes a weaker lock: positions commit in order.
    LOCK TABLE {table} IN EXCLUSIVE MODE;
    RETURN QUERY
        INSERT INTO {table} (originator_id, originator_version, topic, state)
        SELECT e.i, e.v, e.t, e.s
        FROM unnest(p_ids, p_versions, p_topics, p_states) WITH ORDINALITY AS e(i, v, t, s, n)
        ORDER BY e.n
        RETURNING id;
    PERFORM pg_notify('{channel}', '');
END
$append$"""

    def _ensure_function(self) -> bool:
        """Whether appends may call the function, creating it if need be (once a process)."""
        if self._function_ready is None:
            try:
                self._create_function()
                self._function_ready = True
            except sqlalchemy.exc.DBAPIError as error:
                if getattr(error.orig, "sqlstate", None) not in _NOT_ALLOWED:
                    raise
                log.warning(
                    "store.append_function_unavailable",
                    function=self.append_function,
                    error=str(error.orig).strip().splitlines()[0],
                    appending="as eventsourcing-sqlalchemy does",
                )
                self._function_ready = False
        return self._function_ready

    def _create_function(self) -> None:
        """Create the function unless it exists; processes starting together take turns."""
        engine = self.datastore.engine
        assert engine is not None
        signature = {"signature": f"{self.append_function}({_ARGUMENTS})"}
        exists = text("SELECT to_regprocedure(:signature) IS NOT NULL")
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            if conn.execute(exists, signature).scalar():
                return  # the usual case: one round trip
            conn.execute(text("SELECT pg_advisory_lock(hashtext(:signature))"), signature)
            try:
                # Autocommit: this look is a transaction of its own, which sees the
                # catalog as it is now (one begun before the wait would not).
                if not conn.execute(exists, signature).scalar():
                    conn.execute(text(self._function_sql()))
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(hashtext(:signature))"), signature)

    # ------------------------------------------------------------ appending

    def insert_events(
        self,
        stored_events: Sequence[StoredEvent],
        *,
        session: Session | None = None,
        **kwargs: Any,
    ) -> Sequence[int] | None:
        try:
            ready = self._one_trip and self._ensure_function()
        except sqlalchemy.exc.SQLAlchemyError as error:
            raise _persistence_error(error) from error
        if not ready:
            return super().insert_events(stored_events, session=session, **kwargs)
        if session is not None:
            return self._append(session, stored_events)
        if transactions.get(None) is not None:
            # Join the transaction in progress (it checks that it may commit).
            with self.transaction(commit=True) as joined:
                return self._append(joined, stored_events)
        return self._append_and_commit(stored_events)

    def _parameters(self, stored_events: Sequence[StoredEvent]) -> dict[str, list[Any]]:
        return {
            "ids": [e.originator_id for e in stored_events],
            "versions": [e.originator_version for e in stored_events],
            "topics": [e.topic for e in stored_events],
            "states": [e.state for e in stored_events],
        }

    def _append(self, session: Session, stored_events: Sequence[StoredEvent]) -> list[int]:
        rows = session.execute(self._call, self._parameters(stored_events))
        # Rows are inserted in the events' order under the lock, so ascending ids match it.
        return sorted(rows.scalars())

    def _append_and_commit(self, stored_events: Sequence[StoredEvent]) -> list[int]:
        """One statement in autocommit: its transaction commits as it ends."""
        assert self.datastore.engine is not None
        parameters = self._parameters(stored_events)
        try:
            with self.datastore.engine.connect().execution_options(
                isolation_level="AUTOCOMMIT"
            ) as conn:
                return sorted(conn.execute(self._call, parameters).scalars())
        except sqlalchemy.exc.SQLAlchemyError as error:
            raise _persistence_error(error) from error


def _persistence_error(error: sqlalchemy.exc.SQLAlchemyError) -> PersistenceError:
    """As the datastore's transaction maps them: a unique violation is ``IntegrityError``."""
    return exception_classes.get(type(error).__name__, PersistenceError)(error)


class OneTripFactory(SQLAlchemyFactory):
    """eventsourcing-sqlalchemy's factory, with ``OneTripRecorder`` for the application's log."""

    application_recorder_class = OneTripRecorder
