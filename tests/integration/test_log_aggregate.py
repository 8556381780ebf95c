"""Reading one aggregate's events (``log.read_aggregate``): what a serving node
reads of the Balrog import as it starts (``ChangeIds.read``). On the SQL stores it
goes through the index on the aggregate's id instead of scanning the log by
topic; either way it must say what the topic scan says, event for event."""

from __future__ import annotations

from rulelog.domain.balrog.marks import BalrogImport
from rulelog.domain.ids import balrog_import_id
from rulelog.projections.change_ids import IMPORT_TOPICS
from rulelog.projections.log import LoggedEvent, last_position, read_aggregate, read_log
from rulelog.services.application import RulelogApp
from tests.conftest import Store
from tests.integration.test_log_pipe import filled
from tests.integration.test_timeline_properties import apply, seed


def with_imports(app: RulelogApp) -> RulelogApp:
    """An import and two catch-ups, each followed by other events."""
    record = BalrogImport("balrog", {"rules": 3}, "ops", {}, {"rules_history": ""})
    app.save(record)
    for mark in (7, 11, None):
        for value in range(3):
            apply(app, ("update", 1 + value, mark or value))
        if mark is not None:
            record.catch_up({"rules": mark}, "ops", {"n": mark})
            app.save(record)
    return app


def scanned(app: RulelogApp, stop: int | None = None) -> list[LoggedEvent]:
    return [
        logged
        for logged in read_log(app, stop=stop, topics=IMPORT_TOPICS)
        if logged.originator_id == balrog_import_id()
    ]


def assert_as_scanned(app: RulelogApp) -> None:
    every = scanned(app)
    assert [type(logged.event) for logged in every] == [
        BalrogImport.Created,
        BalrogImport.CaughtUp,
        BalrogImport.CaughtUp,
    ]
    assert list(read_aggregate(app, balrog_import_id(), IMPORT_TOPICS)) == every
    middle = every[1].position
    for stop in (middle - 1, middle, last_position(app)):
        assert list(read_aggregate(app, balrog_import_id(), IMPORT_TOPICS, stop)) == scanned(
            app, stop
        )


def test_one_aggregate_is_read_as_the_topic_scan_reads_it(store: Store) -> None:
    app = with_imports(filled(store))
    assert hasattr(app.recorder, "select_aggregate_notifications")
    assert_as_scanned(app)


def test_a_store_without_sql_reads_the_aggregate_from_its_topics() -> None:
    app = RulelogApp(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    seed(app)
    with_imports(app)
    assert not hasattr(app.recorder, "select_aggregate_notifications")
    assert_as_scanned(app)


def test_a_store_never_imported_has_no_import_events(store: Store) -> None:
    app = filled(store)
    assert list(read_aggregate(app, balrog_import_id(), IMPORT_TOPICS)) == []
