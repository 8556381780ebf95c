"""One-statement appends on PostgreSQL (``adapters.pg_appends``) keep the recorder's promises.

Read back as written, with consecutive positions; a version conflict writes
nothing of the save; listeners are notified; positions become visible in
order while many writers race (a follower never steps over a row); and a
store the stock recorder created, or still writes, works alongside.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from eventsourcing.domain import Aggregate, event
from eventsourcing.persistence import IntegrityError, StoredEvent
from sqlalchemy import event as sa_event
from sqlalchemy import text

from rulelog.adapters.pg_appends import OneTripRecorder
from rulelog.api.config import open_app
from rulelog.domain.access.users import User
from rulelog.projections.log import read_log
from rulelog.services.application import RulelogApp
from tests.conftest import PG_SERVER, Store, _libpq_dsn, _postgres_store

WRITERS = 6
SAVES_EACH = 30


class Tally(Aggregate):
    """A bare aggregate: the saves here are about the store, not rulelog's commands."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.count = 0

    @event("Added")
    def add(self, amount: int) -> None:
        self.count += amount


@pytest.fixture
def pg_store() -> Iterator[Store]:
    yield from _postgres_store()


def _events(n: int, version: int = 1) -> list[StoredEvent]:
    return [
        StoredEvent(uuid.uuid4(), version, f"topic-{i}", f"state {i}".encode()) for i in range(n)
    ]


def _ids(recorder: Any) -> list[int]:
    return [n.id for n in recorder.select_notifications(start=1, limit=1_000_000)]


def _has_append_function(app: RulelogApp) -> bool:
    engine = app.recorder.datastore.engine  # type: ignore[attr-defined]
    with engine.connect() as conn:
        query = text(
            "SELECT to_regprocedure('rulelog_events_append_v1(uuid[], bigint[], text[], bytea[])')"
        )
        return conn.execute(query).scalar() is not None


def test_appended_events_read_back_as_written_with_consecutive_positions(store: Store) -> None:
    recorder = store.open().recorder
    first = _events(3)
    second = [*_events(1), StoredEvent(first[0].originator_id, 2, "later", b"\x00\xff")]
    ids = [recorder.insert_events(first), recorder.insert_events(second)]
    assert ids == [[1, 2, 3], [4, 5]]
    read = recorder.select_notifications(start=1, limit=10)
    assert [(n.id, n.originator_id, n.originator_version, n.topic, n.state) for n in read] == [
        (i, e.originator_id, e.originator_version, e.topic, e.state)
        for i, e in enumerate(first + second, start=1)
    ]
    assert recorder.select_events(first[0].originator_id) == [first[0], second[1]]


@pytest.mark.postgres
def test_an_append_is_one_statement_committed_with_it(pg_store: Store) -> None:
    recorder = pg_store.open().recorder
    assert isinstance(recorder, OneTripRecorder)
    sent: list[tuple[str, bool]] = []

    def seen(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        sent.append((statement, conn.connection.dbapi_connection.autocommit))

    engine = recorder.datastore.engine
    sa_event.listen(engine, "before_cursor_execute", seen)
    try:
        recorder.insert_events(_events(2))
    finally:
        sa_event.remove(engine, "before_cursor_execute", seen)
    # Autocommit: no BEGIN or COMMIT of its own, the statement's transaction ends with it.
    assert [(recorder.append_function in s, auto) for s, auto in sent] == [(True, True)]


@pytest.mark.postgres
def test_a_version_conflict_writes_nothing_of_the_save(pg_store: Store) -> None:
    app = pg_store.open()
    held = Tally("held")
    app.save(held)
    stale = app.repository.get(held.id)
    held.add(1)
    app.save(held)
    stale.add(2)
    other = Tally("other")
    before = _ids(app.recorder)
    with pytest.raises(IntegrityError):
        app.save(other, stale)  # atomic across aggregates: the new one is not written either
    assert _ids(app.recorder) == before
    assert app.recorder.select_events(other.id) == []
    assert app.repository.get(held.id).count == 1


@pytest.mark.postgres
def test_appends_join_a_transaction_in_progress(pg_store: Store) -> None:
    recorder = pg_store.open().recorder
    with recorder.transaction(commit=True):
        assert recorder.insert_events(_events(2)) == [1, 2]
        assert recorder.insert_events(_events(1)) == [3]
    assert _ids(recorder) == [1, 2, 3]
    taken = _events(1)
    recorder.insert_events(taken)
    with pytest.raises(IntegrityError), recorder.transaction(commit=True):
        recorder.insert_events(_events(2))
        recorder.insert_events(taken)
    assert _ids(recorder) == [1, 2, 3, 4]


@pytest.mark.postgres
def test_an_append_notifies_listeners(pg_store: Store) -> None:
    recorder = pg_store.open().recorder
    with psycopg.connect(_libpq_dsn(pg_store.url.split("?")[0]), autocommit=True) as conn:
        conn.execute(f"LISTEN {recorder.channel_name}")
        recorder.insert_events(_events(1))
        heard = list(conn.notifies(timeout=10, stop_after=1))
    assert [n.channel for n in heard] == [recorder.channel_name]


@pytest.mark.postgres
def test_racing_writers_never_make_a_follower_skip_a_position(pg_store: Store) -> None:
    """Writers on connections of their own append saves of 1-3 events (one of them
    always losing a version race) while a follower reads whatever follows the last
    position it saw; at the end it must have seen every row, in order."""
    apps = [pg_store.open() for _ in range(WRITERS)]
    follower = pg_store.open().recorder
    contested = _events(1)
    apps[0].recorder.insert_events(contested)
    start = threading.Barrier(WRITERS + 1)
    blocks: list[list[int]] = []
    conflicts: list[int] = []
    seen: list[int] = []

    def write(k: int, recorder: Any) -> None:
        start.wait()
        for i in range(SAVES_EACH):
            if k == 0 and i % 3 == 0:
                try:
                    recorder.insert_events([*_events(1), contested[0]])
                except IntegrityError:
                    conflicts.append(i)
                continue
            blocks.append(list(recorder.insert_events(_events(1 + (k + i) % 3))))

    def follow(writers: list[threading.Thread]) -> None:
        last = 1
        start.wait()
        while True:
            finished = not any(w.is_alive() for w in writers)  # before the read: it is the last
            page = follower.select_notifications(start=last, limit=1000, inclusive_of_start=False)
            seen.extend(n.id for n in page)
            last = page[-1].id if page else last
            if finished and not page:
                return

    writers = [threading.Thread(target=write, args=(k, app.recorder)) for k, app in enumerate(apps)]
    reader = threading.Thread(target=follow, args=(writers,))
    for thread in [*writers, reader]:
        thread.start()
    for thread in [*writers, reader]:
        thread.join()
    assert len(conflicts) == len(range(0, SAVES_EACH, 3))
    assert all(ids == list(range(ids[0], ids[0] + len(ids))) for ids in blocks)
    written = sorted(i for ids in blocks for i in ids)
    assert seen == written  # in order, none twice, none stepped over
    assert _ids(follower) == [1, *written]


@pytest.mark.postgres
def test_a_store_of_the_stock_recorder_works_with_this_one(pg_store: Store) -> None:
    stock_env = {"PERSISTENCE_MODULE": "eventsourcing_sqlalchemy", "SQLALCHEMY_URL": pg_store.url}
    stock = RulelogApp(env=stock_env)
    stock.add_user("old", admin=True, recorded_by="old")
    assert not _has_append_function(stock)
    new = open_app(pg_store.url)
    assert isinstance(new.recorder, OneTripRecorder)
    assert _has_append_function(new)
    new.add_user("new", admin=True, recorded_by="new")
    stock.add_user("older", admin=True, recorded_by="old")  # a node not yet upgraded
    users = [e.event.username for e in read_log(new) if isinstance(e.event, User.Created)]
    assert users == ["old", "new", "older"]
    positions = [e.position for e in read_log(new)]
    assert positions == list(range(1, len(positions) + 1))


@pytest.mark.postgres
def test_processes_upgrading_a_store_together_create_the_function_once(pg_store: Store) -> None:
    stock_env = {"PERSISTENCE_MODULE": "eventsourcing_sqlalchemy", "SQLALCHEMY_URL": pg_store.url}
    RulelogApp(env=stock_env).add_user("old", admin=True, recorded_by="old")
    start = threading.Barrier(WRITERS)
    opened: list[RulelogApp] = []
    failed: list[BaseException] = []

    def open_together() -> None:
        start.wait()
        try:
            opened.append(open_app(pg_store.url))
        except BaseException as error:  # reported below, with the others
            failed.append(error)

    threads = [threading.Thread(target=open_together) for _ in range(WRITERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failed == []
    assert len(opened) == WRITERS and all(_has_append_function(app) for app in opened)


@pytest.mark.postgres
def test_a_user_who_may_not_create_the_function_appends_the_stock_way(pg_store: Store) -> None:
    stock_env = {"PERSISTENCE_MODULE": "eventsourcing_sqlalchemy", "SQLALCHEMY_URL": pg_store.url}
    RulelogApp(env=stock_env).add_user("old", admin=True, recorded_by="old")
    schema = pg_store.url.rsplit("%3D", 1)[1]
    role = f"rulelog_test_writer_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(_libpq_dsn(PG_SERVER), autocommit=True) as conn:
        conn.execute(f'CREATE ROLE "{role}" LOGIN')
        conn.execute(f'GRANT USAGE ON SCHEMA "{schema}" TO "{role}"')  # no CREATE
        # What the stock recorder needs too: UPDATE is what LOCK TABLE ... EXCLUSIVE asks.
        conn.execute(f'GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA "{schema}" TO "{role}"')
        conn.execute(f'GRANT USAGE ON ALL SEQUENCES IN SCHEMA "{schema}" TO "{role}"')
    try:
        writer = open_app(pg_store.url.replace("//postgres@", f"//{role}@", 1))
        writer.add_user("new", admin=True, recorded_by="old")
        assert not _has_append_function(writer)
        positions = [e.position for e in read_log(writer)]
        assert positions == list(range(1, len(positions) + 1))
        writer.recorder.datastore.engine.dispose()  # type: ignore[attr-defined]
    finally:
        with psycopg.connect(_libpq_dsn(PG_SERVER), autocommit=True) as conn:
            conn.execute(f'DROP OWNED BY "{role}"')
            conn.execute(f'DROP ROLE "{role}"')
