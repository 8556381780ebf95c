"""The recorder's Core reads of the log return what the stock ORM reads return.

``adapters.sql_store.SQLApplicationRecorder`` replaces ``select_notifications``
and ``max_notification_id``; every projection reads the log through them, so
each combination of their arguments is compared with the base class's answer,
on SQLite and PostgreSQL.
"""

from __future__ import annotations

import itertools

from eventsourcing_sqlalchemy.recorders import SQLAlchemyApplicationRecorder

from rulelog.adapters.sql_store import SQLApplicationRecorder
from rulelog.domain.catalog.rules import Rule
from tests.conftest import Store
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
