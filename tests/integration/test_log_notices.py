"""Followers hear of commits (LISTEN/NOTIFY) and read them in one round trip, on PostgreSQL.

``services.log_notices`` only makes a follower quicker: a notice wakes it, the
reader reads what ``read_log`` reads. On any other store neither exists and the
follower polls as before.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest

from rulelog.projections.log import last_position, read_log
from rulelog.services import log_notices
from rulelog.services.application import RulelogApp
from rulelog.services.log_notices import LogNotices, tail_reader


def _seen(events: Any) -> list[tuple[Any, ...]]:
    return [
        (e.position, e.topic, str(e.originator_id), e.originator_version, e.event.__dict__)
        for e in events
    ]


def test_the_tail_reader_reads_what_read_log_reads(
    app: RulelogApp, fixture_snapshot: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    app.import_snapshot(fixture_snapshot, "importer")
    read = tail_reader(app)
    if app.recorder.datastore.engine.dialect.name != "postgresql":
        assert read is None  # other stores: the follower reads with read_log
        return
    assert read is not None
    monkeypatch.setattr(log_notices, "PAGE", 7)  # several pages, and a last short one
    head = last_position(app)
    for start in (1, 2, head - 8, head, head + 1):
        assert _seen(read(app, start)) == _seen(read_log(app, start)), start
    assert _seen(read(app, head + 1)) == []


def test_a_commit_wakes_a_listener(app: RulelogApp) -> None:
    heard = threading.Event()
    notices = LogNotices(lambda: app, heard.set, retry=0.05)
    notices.start()
    try:
        if app.recorder.datastore.engine.dialect.name != "postgresql":
            notices._thread.join(5)  # type: ignore[union-attr]
            assert not notices._thread.is_alive()  # type: ignore[union-attr]
            assert not heard.is_set()  # no notices: polling alone
            return
        assert notices.listening.wait(10)
        assert heard.wait(10)  # once on connecting: what landed meanwhile
        heard.clear()
        app.create_shutoff("Firefox", "beta", "importer")
        assert heard.wait(10)
    finally:
        notices.stop()


def test_the_followers_connect_as_the_store_engine_does() -> None:
    """libpq options (a schema's search_path beside another setting) reach the
    follower's own connections as the engine passes them, spaces included: a URL
    rendered again would spell the space '+', which libpq takes literally."""
    from types import SimpleNamespace

    from sqlalchemy import create_engine

    engine = create_engine(
        "postgresql+psycopg://reader:secret@db.example:6543/rules"
        "?options=-csearch_path%3Dtenant%20-cdefault_transaction_read_only%3Don"
    )
    recorder = SimpleNamespace(
        channel_name="rulelog_events", datastore=SimpleNamespace(engine=engine)
    )
    source = log_notices.notice_source(SimpleNamespace(recorder=recorder))
    assert source is not None
    arguments, channel = source
    assert channel == "rulelog_events"
    assert arguments["options"] == "-csearch_path=tenant -cdefault_transaction_read_only=on"
    assert (arguments["host"], arguments["port"], arguments["dbname"]) == (
        "db.example",
        6543,
        "rules",
    )
    assert (arguments["user"], arguments["password"]) == ("reader", "secret")
