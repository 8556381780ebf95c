"""Reading every position with only some events in full (``log.read_positions``):
what a rebuild's reader uses, so that the index aggregates' events (whose time
alone it needs) cost neither a UUID nor a notification. Position by position it
must say what ``read_notifications`` says, on SQLite, PostgreSQL and a store
without SQL."""

from __future__ import annotations

from eventsourcing.persistence import Notification

from rulelog.projections.log import (
    last_position,
    read_notifications,
    read_positions,
    time_of,
    timestamp_of,
)
from rulelog.projections.state import folded_topics
from rulelog.services.application import RulelogApp
from tests.conftest import Store
from tests.integration.test_log_pipe import filled
from tests.integration.test_timeline_properties import seed


def assert_positions_as_notifications(app: RulelogApp) -> None:
    head = last_position(app)
    wanted = frozenset(folded_topics())
    every = list(read_notifications(app, 1, head))
    read = list(read_positions(app, 1, head, wanted))
    assert len(read) == len(every) == head
    kinds = set()
    for notification, found in zip(every, read, strict=True):
        if notification.topic in wanted:
            assert isinstance(found, Notification)
            assert found == notification  # the id made from its bytes included
            assert hash(found.originator_id) == hash(notification.originator_id)
        else:
            assert found == (notification.id, notification.state)
            assert time_of(app, *found) == timestamp_of(app, notification)
        kinds.add(type(found))
    assert kinds == {Notification, tuple}  # both kinds were read
    stretch = list(read_positions(app, 3, head - 2, wanted))
    assert [f.id if isinstance(f, Notification) else f[0] for f in stretch] == list(
        range(3, head - 1)
    )


def test_positions_read_as_the_notifications_say(store: Store) -> None:
    assert_positions_as_notifications(filled(store))


def test_a_store_without_sql_reads_positions_from_its_notifications() -> None:
    app = RulelogApp(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    seed(app)
    assert not hasattr(app.recorder, "select_positions")
    assert_positions_as_notifications(app)


def test_a_time_not_written_first_is_read_from_the_whole_event(store: Store) -> None:
    """A state compressed, encrypted or written by another transcoder does not start
    with the timestamp: the event at that position is then read and decoded."""
    app = filled(store)
    (notification,) = app.recorder.select_notifications(start=2, limit=1)
    assert time_of(app, 2, b"\x78\x9c...") == timestamp_of(app, notification)
