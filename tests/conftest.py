"""Stores for tests: every store-touching test runs on SQLite and PostgreSQL.

PostgreSQL tests isolate themselves in a schema of their own (selected with
``search_path`` in the URL, so the CLI and the server see it too) and drop it
afterwards. Without a server they are skipped with a one-line reason, unless
``RULELOG_REQUIRE_POSTGRES=1`` (set by CI) makes that a failure.
"""

from __future__ import annotations

import json
import os
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, settings

from rulelog.api.config import open_app
from rulelog.projections.log import last_position
from rulelog.services.application import RulelogApp

# Timing health checks measure the machine, not the code: CI shares 2 cores
# with PostgreSQL, so they are off; the properties themselves stay checked.
settings.register_profile(
    "rulelog",
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.load_profile("rulelog")

DATA = Path(__file__).parent / "data"
PG_SERVER = os.environ.get(
    "RULELOG_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
REQUIRE_PG = os.environ.get("RULELOG_REQUIRE_POSTGRES") == "1"
#: Users the tests act as, made admins by ``Store.open_with_admins``.
ADMINS = ("importer", "alice", "seed")


def _libpq_dsn(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def _pg_unavailable() -> str | None:
    try:
        with psycopg.connect(_libpq_dsn(PG_SERVER), connect_timeout=3):
            return None
    except psycopg.Error as error:
        return f"PostgreSQL not reachable at {PG_SERVER}: {str(error).strip().splitlines()[0]}"


_PG_REASON = _pg_unavailable()


@dataclass(frozen=True)
class Store:
    """A fresh, empty event store: its kind and the URL every process can open."""

    kind: str
    url: str

    def open(self) -> RulelogApp:
        return open_app(self.url)

    def open_with_admins(self) -> RulelogApp:
        """The store, with the users tests act as bootstrapped as admins."""
        app = self.open()
        for name in ADMINS:
            app.add_user(name, admin=True, recorded_by=name)
        return app


@contextmanager
def writes_nothing(app: RulelogApp) -> Iterator[None]:
    """The block's commands must leave no event behind: a refusal changes nothing."""
    before = last_position(app)
    yield
    assert last_position(app) == before


@pytest.fixture(scope="session")
def fixture_snapshot() -> dict[str, Any]:
    return json.loads((DATA / "fixture.json").read_text())


def imported_fixture(folder: Path) -> RulelogApp:
    """A new SQLite store in ``folder`` holding the fixture, imported by admin importer."""
    app = open_app(f"sqlite:///{folder / 'rulelog.db'}")
    app.add_user("importer", admin=True, recorded_by="importer")
    app.import_snapshot(json.loads((DATA / "fixture.json").read_text()), "importer")
    return app


def _postgres_store() -> Iterator[Store]:
    if _PG_REASON:
        if REQUIRE_PG:
            pytest.fail(_PG_REASON)
        pytest.skip(_PG_REASON)
    schema = f"rulelog_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(_libpq_dsn(PG_SERVER), autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    sep = "&" if "?" in PG_SERVER else "?"
    try:
        yield Store("postgres", f"{PG_SERVER}{sep}options=-csearch_path%3D{schema}")
    finally:
        with psycopg.connect(_libpq_dsn(PG_SERVER), autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@contextmanager
def new_store(kind: str) -> Iterator[Store]:
    """A fresh store outside fixtures (one per hypothesis example)."""
    if kind == "sqlite":
        with tempfile.TemporaryDirectory(prefix="rulelog-test-") as folder:
            # An empty file is an empty SQLite database: the store exists, so every
            # command may open it (only creating commands may open a missing one).
            (Path(folder) / "rulelog.db").touch()
            yield Store("sqlite", f"sqlite:///{Path(folder) / 'rulelog.db'}")
    else:
        yield from _postgres_store()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_kind(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def store(store_kind: str) -> Iterator[Store]:
    with new_store(store_kind) as made:
        yield made


@pytest.fixture
def app(store: Store) -> RulelogApp:
    return store.open_with_admins()


@pytest.fixture
def balrog(tmp_path: Path) -> Iterator[tuple[str, Any, dict[str, int]]]:
    """A Balrog SQLite database with a history over every table: (url, writer, moments)."""
    from tests.balrog.scenarios import build_full_history
    from tests.balrog.writer import BalrogWriter, create_balrog_db

    url = f"sqlite:///{tmp_path / 'balrog.db'}"
    writer = BalrogWriter(create_balrog_db(url, release_history=True))
    moments = build_full_history(writer)
    yield url, writer, moments
    writer.engine.dispose()
