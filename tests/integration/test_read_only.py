"""rulelog on read-only credentials, as Balrog's public servers read a replica.

A store is built by its normal user (the listings and the timeline, with
checkpoints, built too), then changed again so that those projections are
behind; then it is read through credentials that cannot write: a PostgreSQL
role with only CONNECT and SELECT, or the normal user in read-only
transactions (``default_transaction_read_only``, as on a hot standby), or a
SQLite file opened ``?mode=ro``. Every read must answer what the writable
user's answers, write nothing, and every write must fail with one line.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest

from rulelog.api.admin.app import create_admin_app
from rulelog.api.config import open_app
from rulelog.api.public.app import create_public_app
from rulelog.api.public.settings import PublicSettings
from rulelog.domain.errors import NotFound
from rulelog.domain.serving import evaluate
from rulelog.projections.log import last_position
from tests.conftest import DATA, PG_SERVER, Store, _libpq_dsn, new_store
from tests.e2e.processes import cli_ok, run_cli
from tests.e2e.test_public_http import VECTORS, public_server
from tests.integration.asgi_driver import AsgiDriver
from tests.integration.public_driver import Driver

#: Small, so the fixture's log holds full checkpoints and a node lags by more than K.
EVERY = "20"
ADMIN = "t"
CREDENTIALS = ("select_only_role", "read_only_transactions")


@dataclass(frozen=True)
class Built:
    """A store built by its normal user, and URLs that read it without writing."""

    writer: Store
    readers: dict[str, str]
    schema: str


def _url_with(store: Store, options: str, user: str = "postgres") -> str:
    """The store's URL with more ``-c`` options, as ``user``."""
    url = store.url.replace("postgres@", f"{user}@", 1)
    return url + "%20" + options if options else url


def _sql(*statements: str) -> list[Any]:
    with psycopg.connect(_libpq_dsn(PG_SERVER), autocommit=True) as conn:
        done = [conn.execute(statement) for statement in statements]
        return [cursor.fetchall() if cursor.description else None for cursor in done]


def _build(store: Store) -> None:
    """The fixture, its listings and its timeline (checkpoints every ``EVERY``)."""
    cli_ok(store.url, "users", "add", ADMIN, "--admin")
    cli_ok(store.url, "import", str(DATA / "fixture.json"), "--as", ADMIN)
    cli_ok(store.url, "rules", "list", "--json")
    cli_ok(store.url, "releases", "list", "--json")
    cli_ok(store.url, "at", f"position:{last_position(store.open())}", "rules", "--json")


def _put_behind(store: Store, events: int = 25) -> None:
    """Changes the projections have not seen: a rule mapped elsewhere (its answers
    change), a rule deleted, a release's read-only switch, then ``events`` edits."""
    app = store.open()
    rule = app.get_rule(1)
    elsewhere = {"Firefox-121.0-build1": "Firefox-122.0b3-build1"}.get(rule.as_balrog()["mapping"])
    app.update_rule(1, rule.data_version, {"mapping": elsewhere or "Firefox-121.0-build1"}, ADMIN)
    with suppress(NotFound):  # deleted by an earlier test
        app.delete_rule(3, app.get_rule(3).data_version, ADMIN)
    name = "Firefox-120.0-build1"
    release = app.get_release(name)
    app.set_release_read_only(name, release.data_version, not release.read_only, ADMIN)
    for n in range(events):
        app.update_rule(4, app.get_rule(4).data_version, {"comment": f"edit {n}"}, ADMIN)


@pytest.fixture(scope="module")
def built() -> Iterator[Built]:
    with pytest.MonkeyPatch.context() as patch, new_store("postgres") as store:
        patch.setenv("RULELOG_CHECKPOINT_EVERY", EVERY)
        schema = store.url.rsplit("%3D", 1)[1]
        _build(store)
        role = f"rulelog_ro_{uuid.uuid4().hex[:10]}"
        _sql(
            f'CREATE ROLE "{role}" LOGIN',
            f'GRANT CONNECT ON DATABASE test TO "{role}"',
            f'GRANT USAGE ON SCHEMA "{schema}" TO "{role}"',
            f'GRANT SELECT ON ALL TABLES IN SCHEMA "{schema}" TO "{role}"',
        )
        readers = {
            "select_only_role": _url_with(store, "", user=role),
            "read_only_transactions": _url_with(store, "-cdefault_transaction_read_only%3Don"),
        }
        try:
            yield Built(store, readers, schema)
        finally:
            _sql(f'DROP OWNED BY "{role}"', f'DROP ROLE "{role}"')


def _tracked(schema: str) -> list[Any]:
    """Where the store's projection tables say they are (read as the normal user)."""
    return _sql(
        f'SELECT kind, position FROM "{schema}".rulelog_listing_positions ORDER BY kind',
        f'SELECT position FROM "{schema}".rulelog_projection',
    )


@pytest.mark.postgres
@pytest.mark.parametrize("credential", CREDENTIALS)
def test_reads_answer_as_the_writer_would_and_write_nothing(built: Built, credential: str) -> None:
    _put_behind(built.writer)
    reader, writer = built.readers[credential], built.writer.url
    before = _tracked(built.schema)
    head = last_position(built.writer.open())
    now = datetime.now(UTC).isoformat()
    commands = [
        ("rules", "list", "--json"),
        ("releases", "list", "--json"),
        ("at", f"position:{head}", "rules", "--json"),
        ("at", now, "rules", "--json"),
        ("history", "rule", "1", "--json"),
    ]
    read = [cli_ok(reader, *command) for command in commands]
    assert _tracked(built.schema) == before  # nothing written: still behind
    assert read == [cli_ok(writer, *command) for command in commands]
    assert _tracked(built.schema) != before  # the writer's reads caught the tables up
    rules = {rule["rule_id"]: rule for rule in json.loads(read[0])}
    assert 3 not in rules and rules[4]["comment"] == "edit 24"  # the events after the rows


@pytest.mark.postgres
@pytest.mark.parametrize("credential", CREDENTIALS)
def test_a_write_fails_with_one_line(built: Built, credential: str) -> None:
    result = run_cli(built.readers[credential], "users", "add", "someone", "--admin")
    assert result.returncode != 0
    assert result.stderr.count("\n") == 1 and "read-only" in result.stderr, result.stderr


@pytest.mark.postgres
@pytest.mark.parametrize("credential", CREDENTIALS)
def test_public_node_serves_what_the_writer_would(
    built: Built, credential: str, tmp_path: Path
) -> None:
    _put_behind(built.writer, events=int(EVERY) + 5)  # the node's start would catch up
    expected = _answers_in_process(built.writer)
    before = _tracked(built.schema)
    reading = Store("postgres", built.readers[credential])
    settings = {"RULELOG_CHECKPOINT_EVERY": EVERY}
    with public_server(reading, tmp_path / "public.log", workers=1, settings=settings) as node:
        got = {}
        for url in expected:
            status, body, headers = node.fetch(url)
            got[url] = (status, body, headers.get("Rule-ID"))
        heartbeat = node.get("/__heartbeat__").status
        log = (tmp_path / "public.log").read_text()
    assert got == expected and len(expected) > 200
    assert heartbeat == 200
    assert "Traceback" not in log and "public.no_checkpoint" not in log
    assert '"level": "error"' not in log and "failed" not in log.replace('"failed": 0', "")
    assert "projection.read_only" in log
    assert _tracked(built.schema) == before


def _answers_in_process(store: Store) -> dict[str, tuple[int, bytes, str | None]]:
    """Every vector's answer from the writable store, served in process, where it does
    not hang on a ``backgroundRate`` dice roll (the same with either outcome)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(evaluate, "_default_dice", lambda: 0)
        low = _served_in_process(store)
        patch.setattr(evaluate, "_default_dice", lambda: 99)
        high = _served_in_process(store)
    return {url: answer for url, answer in low.items() if high[url] == answer}


def _served_in_process(store: Store) -> dict[str, tuple[int, bytes, str | None]]:
    quiet = PublicSettings(follow=False, start_from_checkpoint=False)  # it would catch up
    web = create_public_app(settings=quiet, store=store.open())
    web.state.server.start()
    driver = Driver(web)
    try:
        answers = {}
        for vector in VECTORS:
            status, headers, body = driver.get(vector["url"])
            rule = dict(headers).get(b"rule-id")
            answers[vector["url"]] = (status, body, rule.decode() if rule else None)
        return answers
    finally:
        driver.server.stop()
        web.request_log.close()
        driver.loop.close()


@pytest.mark.postgres
@pytest.mark.parametrize("credential", CREDENTIALS)
def test_admin_api_reads_and_refuses_writes_with_503(built: Built, credential: str) -> None:
    token = built.writer.open().issue_token(ADMIN, ADMIN)[1]
    _put_behind(built.writer, events=3)
    head = last_position(built.writer.open())
    admin = AsgiDriver(create_admin_app(open_app(built.readers[credential])))
    auth = [(b"authorization", f"Bearer {token}".encode())]
    at = f"at=position%3A{head}".encode()
    status, body = admin.request("GET", b"/api/timeline/rules", query=at, headers=auth)
    assert status == 200, body
    written = cli_ok(built.writer.url, "at", f"position:{head}", "rules", "--json")
    assert json.loads(body) == json.loads(written)
    status, body = admin.request("GET", b"/api/rules/1", headers=auth)
    assert status == 200, body
    change = json.dumps({"priority": 7, "data_version": json.loads(body)["data_version"]})
    json_body = [*auth, (b"content-type", b"application/json")]
    status, body = admin.request("PUT", b"/api/rules/1", headers=json_body, body=change.encode())
    assert status == 503 and b"read-only" in body, body


@pytest.mark.parametrize("tables", ["behind", "absent"])
def test_sqlite_opened_read_only(tables: str) -> None:
    """A file opened ``?mode=ro``: with the projections behind, or never made at all."""
    with new_store("sqlite") as store:
        if tables == "behind":
            _build(store)
        else:  # the log only: no listing or timeline table was ever created
            cli_ok(store.url, "users", "add", ADMIN, "--admin")
            cli_ok(store.url, "import", str(DATA / "fixture.json"), "--as", ADMIN)
        _put_behind(store)
        path = store.url.removeprefix("sqlite:///")
        reader = f"sqlite:///file:{path}?mode=ro&uri=true"
        commands = [
            ("rules", "list", "--json"),
            ("releases", "list", "--json"),
            ("at", f"position:{last_position(store.open())}", "rules", "--json"),
            ("at", datetime.now(UTC).isoformat(), "rules", "--json"),
        ]
        read = [cli_ok(reader, *command) for command in commands]
        assert read == [cli_ok(store.url, *command) for command in commands]
        result = run_cli(reader, "users", "add", "someone", "--admin")
        assert result.returncode != 0 and "read-only" in result.stderr, result.stderr
