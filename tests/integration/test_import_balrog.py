"""``import-balrog`` from Balrog databases the tests build, into SQLite and PostgreSQL stores.

The Balrog side is SQLite here (a file per test); ``test_import_balrog_mariadb``
reads from a real MariaDB server.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, delete, update

from rulelog.adapters.balrog_source import BalrogSource
from rulelog.api.config import open_timeline
from rulelog.domain import ids
from rulelog.domain.catalog.releases import ReleaseUsage
from rulelog.domain.errors import Conflict, Invalid
from rulelog.projections.at import rules_at
from rulelog.projections.log import last_position, read_log
from rulelog.projections.state import Catalog
from rulelog.services.application import RulelogApp
from rulelog.services.balrog_import import import_balrog
from rulelog.services.balrog_verify import verify
from tests.balrog.points import balrog_rules_at, comparable, rule_times
from tests.balrog.scenarios import blob, build_full_history, rule
from tests.balrog.writer import BalrogWriter, create_balrog_db
from tests.conftest import Store


@pytest.fixture(autouse=True)
def _close_stores(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Close every application a test opens (PostgreSQL's connections are shared)."""
    opened: list[RulelogApp] = []
    real = Store.open

    def tracking(self: Store) -> RulelogApp:
        app = real(self)
        opened.append(app)
        return app

    monkeypatch.setattr(Store, "open", tracking)
    yield
    for app in opened:
        app.close()


def run_import(app: RulelogApp, url: str, **kw: Any) -> Any:
    source = BalrogSource(url)
    try:
        return import_balrog(app, source, "importer", **kw)
    finally:
        source.close()


@contextmanager
def imported_public_client(store: Store, url: str) -> Iterator[Any]:
    """A public server (its test client) over a store that imported the database at ``url``."""
    from starlette.testclient import TestClient

    from rulelog.api.public import PublicSettings, create_public_app

    app = store.open()
    run_import(app, url)
    with TestClient(create_public_app(settings=PublicSettings(follow=False), store=app)) as client:
        yield client


def differences(app: RulelogApp, url: str) -> list[str]:
    source = BalrogSource(url)
    try:
        return list(verify(app, source))
    finally:
        source.close()


def rulelog_rules_at(app: RulelogApp, ms: int) -> dict[int, dict[str, Any]]:
    at = datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat()
    answer = rules_at(open_timeline(app), at)
    return {r["rule_id"]: comparable(r) for r in answer["rules"]}


def assert_rules_agree_at_every_time(app: RulelogApp, engine: Engine) -> None:
    times = rule_times(engine)
    assert times
    for ms in [times[0] - 1, *times]:
        theirs = {k: comparable(v) for k, v in balrog_rules_at(engine, ms).items()}
        assert rulelog_rules_at(app, ms) == theirs, ms


def test_whole_history_imports_and_verifies(store: Store, balrog: tuple) -> None:
    url, writer, _moments = balrog
    app = store.open()
    summary = run_import(app, url)
    assert summary.events_total > 100
    assert summary.first is not None and summary.first.startswith("2023-11-14")
    assert differences(app, url) == []
    assert_rules_agree_at_every_time(app, writer.engine)
    state = Catalog(keep_ended=True).fold(read_log(app))
    # The rule deleted in Balrog is gone; the enacted change shows as an enactment.
    assert 2 not in state.rules
    enacted = [sc for sc in state.scheduled.values() if sc["status"] == "enacted"]
    assert {sc["kind"] for sc in enacted} == {"rules", "permissions"}
    assert all(sc["enacted_by"] for sc in enacted)
    pending = {(sc["kind"], sc["sc_id"]): sc for sc in state.scheduled.values()
               if sc["status"] == "pending"}
    uptake = next(sc for sc in pending.values() if "telemetry_uptake" in sc["condition"])
    assert uptake["condition"]["telemetry_uptake"] == 50 and uptake["signoffs"] == {}
    # Original actors and times on the events.
    rule_events = [e for e in read_log(app) if e.topic.startswith("rulelog:rule.")]
    assert {e.actor for e in rule_events} == {"bob"}
    assert min(e.timestamp for e in rule_events).year == 2023
    # The release deleted and created again continues one stream at data_version 1.
    assert state.releases["Firefox-119.0-build1"]["data_version"] == 1
    assert state.releases["Firefox-121.0-build1"]["read_only"] is True


def test_commands_work_on_the_imported_store(store: Store, balrog: tuple) -> None:
    url, _writer, _ = balrog
    app = store.open()
    run_import(app, url)
    # alice is a Balrog admin: she may act; new ids follow Balrog's.
    new = app.create_rule(rule("Firefox-120.0-build1", channel="nightly"), "alice")
    assert new.rule_id == 5
    with pytest.raises(Conflict, match="already used by rule 3"):
        app.create_rule(rule("Firefox-120.0-build1", channel="x", alias="firefox-release"),
                        "alice")
    usage = app.find(ids.release_usage_id("Firefox-121.0-build1"), ReleaseUsage)
    assert usage is not None and usage.refs == {"rule 1", "rule 4"}


def test_a_non_empty_store_is_refused(store: Store, balrog: tuple) -> None:
    url, _writer, _ = balrog
    app = store.open_with_admins()
    before = last_position(app)
    with pytest.raises(Conflict, match="not empty"):
        run_import(app, url)
    assert last_position(app) == before


def test_a_history_that_contradicts_the_current_row_leaves_the_store_empty(
    store: Store, balrog: tuple
) -> None:
    url, writer, _ = balrog
    t = writer.t("rules")
    with writer.engine.begin() as conn:
        conn.execute(update(t).where(t.c.rule_id == 1).values(comment="edited behind history"))
    app = store.open()
    with pytest.raises(Invalid, match=r"rules 1: comment: Balrog 'edited behind history'"):
        run_import(app, url)
    assert last_position(app) == 0


def test_a_bad_history_row_names_table_row_and_field(store: Store, balrog: tuple) -> None:
    url, writer, _ = balrog
    h = writer.t("rules_history")
    with writer.engine.begin() as conn:
        conn.execute(update(h).where(h.c.change_id == 4).values(data_version=7))
        conn.execute(delete(h).where(h.c.change_id > 4).where(h.c.rule_id == 1))
    app = store.open()
    with pytest.raises(Invalid) as error:
        run_import(app, url)
    assert "rules_history change_id" in error.value.message
    assert "data_version" in error.value.message
    assert last_position(app) == 0


def test_dry_run_writes_nothing(store: Store, balrog: tuple) -> None:
    url, _writer, _ = balrog
    app = store.open()
    summary = run_import(app, url, dry_run=True)
    assert summary.mode == "dry run" and summary.events_total > 100
    assert last_position(app) == 0


def test_since_last_appends_only_newer_rows(store: Store, balrog: tuple) -> None:
    url, writer, _ = balrog
    app = store.open()
    run_import(app, url)
    with pytest.raises(Conflict):
        run_import(app, url)  # not without --since-last
    writer.update("rules", {"rule_id": 1}, {"priority": 150}, "bob")
    writer.insert("releases", {"name": "Firefox-122.0-build1", "product": "Firefox",
                               "read_only": False, "data": blob("Firefox-122.0-build1")}, "bob")
    writer.insert("rules", rule("Firefox-122.0-build1", channel="release-cdntest"), "bob")
    summary = run_import(app, url, since_last=True)
    assert summary.rows == {"rules": 3, "releases": 2}
    assert differences(app, url) == []
    assert_rules_agree_at_every_time(app, writer.engine)
    again = run_import(app, url, since_last=True)
    assert again.events_total == 0


def test_since_last_needs_an_imported_store(store: Store, balrog: tuple) -> None:
    url, _writer, _ = balrog
    app = store.open()
    with pytest.raises(Conflict, match="not made by import-balrog"):
        run_import(app, url, since_last=True)


def test_truncated_history_imports_as_the_earliest_state(store: Store, balrog: tuple) -> None:
    url, writer, _ = balrog
    h = writer.t("rules_history")
    with writer.engine.begin() as conn:  # Balrog lost rule 1's history
        conn.execute(delete(h).where(h.c.rule_id == 1))
    app = store.open()
    summary = run_import(app, url)
    assert summary.without_history.get("rules") == 1
    assert summary.gap_count == 1 and "history missing" in summary.gaps[0]
    # Balrog's own point-in-time answers never show rule 1 (it has no history row):
    # the one difference --verify reports, at the first rules change.
    (only,) = differences(app, url)
    assert only.startswith("rules at ") and "rule 1: Balrog None" in only
    state = Catalog().fold(read_log(app))
    current = writer.current("rules", {"rule_id": 1})
    assert current is not None
    assert state.rules[1]["data_version"] == current["data_version"]


@pytest.mark.parametrize(
    "url, message",
    [
        ("sqlite:////nonexistent/folder/balrog.db", "cannot read the Balrog database"),
        ("mysql+pymysql://root@127.0.0.1:1/test", "cannot read the Balrog database"),
        ("nonsense", "not a database URL"),
    ],
)
def test_unreachable_databases_are_refused(store: Store, url: str, message: str) -> None:
    app = store.open()
    with pytest.raises(Invalid, match=message):
        run_import(app, url)
    assert last_position(app) == 0


def test_a_database_that_is_not_balrog_is_refused(store: Store, tmp_path: Path) -> None:
    from sqlalchemy import create_engine, text

    url = f"sqlite:///{tmp_path / 'other.db'}"
    with create_engine(url).begin() as conn:
        conn.execute(text("CREATE TABLE things (id INTEGER)"))
    app = store.open()
    with pytest.raises(Invalid, match="is not a Balrog database"):
        run_import(app, url)
    assert last_position(app) == 0


# ---------------------------------------------------------------- MariaDB / MySQL

MARIADB_SERVER = os.environ.get("RULELOG_TEST_MARIADB_URL", "mysql+pymysql://root@127.0.0.1:3306")
REQUIRE_MARIADB = os.environ.get("RULELOG_REQUIRE_MARIADB") == "1"


@pytest.fixture
def mariadb_balrog() -> Iterator[tuple[str, BalrogWriter]]:
    """A Balrog database of its own on the MariaDB server, dropped afterwards."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.exc import OperationalError

    server = create_engine(f"{MARIADB_SERVER}/test")
    try:
        with server.connect():
            pass
    except OperationalError as error:
        reason = f"MariaDB not reachable at {MARIADB_SERVER}: {str(error.orig).splitlines()[0]}"
        if REQUIRE_MARIADB:
            pytest.fail(reason)
        pytest.skip(reason)
    name = f"balrog_{uuid.uuid4().hex[:12]}"
    with server.begin() as conn:
        conn.execute(text(f"CREATE DATABASE `{name}`"))
    writer = BalrogWriter(create_balrog_db(f"{MARIADB_SERVER}/{name}"))
    try:
        yield f"{MARIADB_SERVER}/{name}", writer
    finally:
        writer.engine.dispose()
        with server.begin() as conn:
            conn.execute(text(f"DROP DATABASE `{name}`"))
        server.dispose()


@pytest.mark.mariadb
def test_import_balrog_mariadb(store: Store, mariadb_balrog: tuple) -> None:
    url, writer = mariadb_balrog
    build_full_history(writer)
    app = store.open()
    summary = run_import(app, url)
    assert summary.rows["rules"] > 10 and summary.without_history == {"releases": 3}
    assert differences(app, url) == []
    assert_rules_agree_at_every_time(app, writer.engine)
    writer.update("rules", {"rule_id": 1}, {"priority": 7}, "bob")
    # Releases have no history table in current Balrog: a catch-up compares data_versions.
    writer.insert("releases", {"name": "Firefox-122.0-build1", "product": "Firefox",
                               "read_only": False, "data": blob("Firefox-122.0-build1")}, "bob")
    writer.update("releases", {"name": "Firefox-120.0-build1"},
                  {"data": blob("Firefox-120.0-build1", "120.0.1")}, "bob")
    assert run_import(app, url, since_last=True).rows == {"rules": 1, "releases": 2}
    assert differences(app, url) == []


def test_the_public_server_answers_from_the_imported_rows(store: Store, balrog: tuple) -> None:
    url, writer, _ = balrog
    with imported_public_client(store, url) as client:
        rules = client.get("/api/v1/rules").json()["rules"]
        current = {r["rule_id"]: r for r in writer.engine.connect().execute(
            writer.t("rules").select()).mappings()}
        assert {r["rule_id"]: r["data_version"] for r in rules} == {
            k: v["data_version"] for k, v in current.items()}
        answer = client.get("/update/6/Firefox/119.0/20231016134553/WINNT_x86_64-msvc-x64/"
                            "en-US/release/Windows_NT%2010.0/ISET:SSE4_2,MEM:16384/default/"
                            "default/update.xml?force=1")
        assert answer.status_code == 200
        assert answer.headers["Rule-ID"] == "1"
        assert answer.headers["Rule-Data-Version"] == str(current[1]["data_version"])
        shutoff = client.get("/api/v1/emergency_shutoff/Firefox/beta")
        assert shutoff.status_code == 200 and shutoff.json()["data_version"] == 1
