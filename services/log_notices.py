"""Word of new commits, for processes that follow the log (PostgreSQL's LISTEN/NOTIFY),
and reading them in one round trip.

eventsourcing-sqlalchemy's application recorder sends ``NOTIFY <events table>``
in every transaction that appends events to a PostgreSQL store, so a follower
that LISTENs on that channel can read the log as soon as a commit lands rather
than at its next poll. ``LogNotices`` holds one connection of its own for that
and calls ``on_notice`` for each notification (and once after each connect,
since commits may have landed while it was not listening).

A notice only says "read the log now": it carries no position, may name a
commit of another schema in the same database (the channel is the table's
name) and may be lost while the connection is down; the follower's polling
stays the guarantee. Any other store has no notices (``LogNotices.start``
does nothing).

``tail_reader`` reads what follows a position as ``projections.log.read_log``
does, in one statement on an autocommit connection: one round trip to the
store where the recorder's transaction takes three (BEGIN, SELECT, ROLLBACK).
On a busy machine each round trip can wait for a CPU, so a follower's poll is
that much nearer the commit. One statement sees one snapshot, and the
recorder's table lock makes positions visible in order, as for the recorder.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import structlog
from eventsourcing.persistence import Notification

from rulelog.projections.log import PAGE, LoggedEvent, decode
from rulelog.projections.read_only import refused

__all__ = ["LogNotices", "notice_source", "tail_reader"]

#: Reads the decoded events from a position on: (app, start) -> events.
TailReader = Callable[[Any, int], Iterator[LoggedEvent]]

log = structlog.get_logger("rulelog.notices")


#: libpq options of the notices' connection: give up connecting after 5 s, and
#: notice within seconds a peer that vanished without closing (so the listener
#: connects again rather than waiting on a dead socket).
_CONNECT: dict[str, Any] = {
    "connect_timeout": 5,
    "keepalives": 1,
    "keepalives_idle": 5,
    "keepalives_interval": 2,
    "keepalives_count": 3,
}


def notice_source(app: Any) -> tuple[dict[str, Any], str] | None:
    """(psycopg connection arguments, channel) where ``app``'s writers notify, or None.

    The arguments are the ones the store's own engine connects with (its dialect's
    ``create_connect_args``: host, database, user, password and libpq options such as
    a schema's ``search_path``), not a URL rendered again, which would spell spaces
    in those options in a way libpq does not read.
    """
    recorder = getattr(app, "recorder", None)
    channel = getattr(recorder, "channel_name", None)
    engine = getattr(getattr(recorder, "datastore", None), "engine", None)
    if not channel or engine is None or engine.dialect.name != "postgresql":
        return None
    _, arguments = engine.dialect.create_connect_args(engine.url)
    arguments.pop("context", None)  # SQLAlchemy's own type adapters: psycopg's defaults here
    return arguments, channel


class LogNotices:
    """Calls ``on_notice`` whenever a commit appends to the log; in a thread of its own.

    ``store`` returns the application (opened lazily, as the follower's); a lost
    connection is opened again after ``retry`` seconds, and ``on_notice`` is
    called once it is back.
    """

    def __init__(
        self, store: Callable[[], Any], on_notice: Callable[[], None], *, retry: float = 0.5
    ) -> None:
        self.store = store
        self.on_notice = on_notice
        self.retry = retry
        #: Whether the last connection attempt is listening now (for tests and logs).
        self.listening = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="rulelog-notices", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _run(self) -> None:
        failures = 0
        while not self._stop.is_set():
            try:
                source = notice_source(self.store())
                if source is None:
                    return  # not PostgreSQL: polling alone
                self._listen(*source)
                failures = 0
            except Exception as error:  # the store is down: polling covers it meanwhile
                if refused(error):  # a hot standby cannot LISTEN: polling alone, for good
                    log.info("notices.unavailable", error=f"{type(error).__name__}: {error}")
                    return
                failures += 1
                if failures == 1:
                    log.warning("notices.lost", error=f"{type(error).__name__}: {error}")
            finally:
                self.listening.clear()
            self._stop.wait(self.retry)

    def _listen(self, arguments: dict[str, Any], channel: str) -> None:
        with psycopg.connect(**{**_CONNECT, **arguments}, autocommit=True) as conn:
            conn.execute(f"LISTEN {channel}")  # unquoted, as the recorder's NOTIFY names it
            self.listening.set()
            self.on_notice()  # what landed while nobody listened
            while not self._stop.is_set():
                for _ in conn.notifies(timeout=0.5):
                    self.on_notice()
                    if self._stop.is_set():
                        return


def tail_reader(app: Any) -> TailReader | None:
    """A one-round-trip reader of ``app``'s log on PostgreSQL (None: any other store).

    The statement runs on the pooled connection's psycopg connection itself, not
    through SQLAlchemy's execution and result layers: a serving node's follower
    polls tens of times a second under writes, and those layers were most of the
    CPU a change cost the node, on cores its requests are waiting for. After a
    few polls psycopg prepares the statement, so a poll is one Bind/Execute on
    the wire. The connection is the pool's, checked out per poll (the pool
    closes it with the store; a connection of the reader's own would outlive a
    store nobody closed).
    """
    recorder = getattr(app, "recorder", None)
    record = getattr(recorder, "events_record_cls", None)
    source = notice_source(app)
    if record is None or source is None:
        return None
    engine = recorder.datastore.engine
    table = engine.dialect.identifier_preparer.format_table(record.__table__)
    sql = (
        f"SELECT id, originator_id, originator_version, topic, state FROM {table}"
        " WHERE id >= %s ORDER BY id LIMIT %s"
    )

    def read(app: Any, start: int) -> Iterator[LoggedEvent]:
        while True:
            page = PAGE
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                driver = conn.connection.driver_connection
                rows = driver.execute(sql, (start, page)).fetchall()
            for id_, originator_id, version, topic, state in rows:
                notice = Notification(
                    originator_id=originator_id,
                    originator_version=version,
                    topic=topic,
                    state=bytes(state) if isinstance(state, memoryview) else state,
                    id=id_,
                )
                yield decode(app, notice)
            if len(rows) < page:
                return
            start = rows[-1][0] + 1

    return read
