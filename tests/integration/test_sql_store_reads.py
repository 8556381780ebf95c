"""The recorder's Core reads of the log return what the stock ORM reads return.

``adapters.sql_store.SQLApplicationRecorder`` replaces ``select_notifications``
and ``max_notification_id``; every projection reads the log through them, so
each combination of their arguments is compared with the base class's answer,
on SQLite and PostgreSQL.
"""

from __future__ import annotations

import itertools
from typing import Any
from uuid import uuid4

import pytest
from eventsourcing_sqlalchemy.recorders import SQLAlchemyApplicationRecorder
from sqlalchemy import event

from rulelog.adapters.batch_writes import AtomicAppender
from rulelog.adapters.sql_store import SQLApplicationRecorder
from rulelog.domain.catalog.rules import Rule
from rulelog.services.application import RulelogApp
from tests.conftest import Store, new_store
from tests.integration.test_listings import apply, seed


def stock(recorder: SQLApplicationRecorder, name: str, *args: object, **kwargs: object) -> object:
    return getattr(SQLAlchemyApplicationRecorder, name)(recorder, *args, **kwargs)


def test_core_reads_equal_the_orm_reads(store: Store) -> None:
    app = store.open()
    seed(app)
    recorder = app.recorder
    assert isinstance(recorder, SQLApplicationRecorder)
    for n in range(4):
        apply(app, ("create", n, None))
    head = recorder.max_notification_id()
    assert head is not None and head == stock(recorder, "max_notification_id") and head > 4
    topics = [(), (Rule.Created.TOPIC,), (Rule.Created.TOPIC, "no.such:topic")]
    for start, stop, limit, chosen, inclusive in itertools.product(
        (None, 1, 3), (None, head - 2), (1, 2, 1000), topics, (True, False)
    ):
        arguments = {"stop": stop, "topics": chosen, "inclusive_of_start": inclusive}
        mine = recorder.select_notifications(start, limit, **arguments)
        assert mine == stock(recorder, "select_notifications", start, limit, **arguments)
        assert all(isinstance(n.state, bytes) for n in mine)
    created = recorder.select_notifications(1, 1000, topics=(Rule.Created.TOPIC,))
    assert len(created) == 4


def test_an_empty_store_has_no_head(store: Store) -> None:
    recorder = store.open().recorder
    assert recorder.max_notification_id() is None
    assert recorder.select_notifications(1, 10) == []


@pytest.mark.postgres
def test_postgres_reads_are_one_autocommit_statement() -> None:
    """Outside a transaction in progress, a read is its statement alone: no BEGIN
    and ROLLBACK around it (psycopg sends those only outside autocommit)."""
    with new_store("postgres") as store:
        app = store.open()
        seed(app)
        assert_one_statement_reads(app)


def assert_one_statement_reads(app: RulelogApp) -> None:
    engine = app.recorder.datastore.engine
    seen: list[tuple[str, bool]] = []

    def noted(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        seen.append((statement.split()[0], conn.connection.dbapi_connection.autocommit))

    event.listen(engine, "before_cursor_execute", noted)
    try:
        head = app.recorder.max_notification_id()
        app.recorder.select_notifications(1, 10)
    finally:
        event.remove(engine, "before_cursor_execute", noted)
    assert head and seen == [("SELECT", True), ("SELECT", True)]


def test_reads_inside_an_atomic_block_see_its_appends(store: Store) -> None:
    """In a block in progress (``AtomicAppender``), reads join its transaction."""
    app = store.open()
    seed(app)
    head = app.recorder.max_notification_id()
    with AtomicAppender(app) as out:
        out.append([(uuid4(), 1, "rulelog:test.appended", b"{}")])
        assert app.recorder.max_notification_id() == head + 1
        assert app.recorder.select_notifications(head + 1, 10)[0].topic == "rulelog:test.appended"
