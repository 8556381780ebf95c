"""``import-balrog`` keeps what Balrog's history tables say beyond the rows themselves.

An edit of a shutoff's comment is imported as the event that records it, so the
shutoff's past reads as Balrog's. The Balrog side is SQLite and (marked) MariaDB.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from rulelog.api.config import open_timeline
from tests.balrog.writer import BalrogWriter, create_balrog_db
from tests.conftest import Store
from tests.integration.test_import_balrog import (  # noqa: F401 (fixtures)
    _close_stores,
    differences,
    mariadb_balrog,
    run_import,
)

BETA = {"product": "Firefox", "channel": "beta"}


@pytest.fixture(params=["sqlite", pytest.param("mariadb", marks=pytest.mark.mariadb)])
def balrog_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, Any]]:
    """An empty Balrog database (url, writer) on SQLite or on the MariaDB server."""
    if request.param == "mariadb":
        yield request.getfixturevalue("mariadb_balrog")
        return
    url = f"sqlite:///{tmp_path / 'balrog.db'}"
    writer = BalrogWriter(create_balrog_db(url))
    yield url, writer
    writer.engine.dispose()


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat()


def test_shutoff_comment_edits_are_imported_at_their_times(
    store: Store, balrog_db: tuple
) -> None:
    url, writer = balrog_db
    writer.insert("emergency_shutoffs", {**BETA, "comment": "bad build"}, "alice")
    created = writer.now
    writer.update("emergency_shutoffs", BETA, {"comment": "still bad"}, "bob")
    edited = writer.now
    writer.update("emergency_shutoffs", BETA, {"comment": None}, "carol")
    cleared = writer.now
    app = store.open()
    summary = run_import(app, url)
    assert summary.skipped == {}
    assert summary.events["rulelog:emergency-shutoff.comment-changed"] == 2
    assert differences(app, url) == []
    timeline = open_timeline(app)

    def shutoff_at(ms: int) -> tuple[Any, int]:
        row = timeline.state_at(timeline.resolve(iso(ms))).shutoffs[("Firefox", "beta")]
        return row["comment"], row["data_version"]

    assert [shutoff_at(ms) for ms in (created, edited, cleared)] == [
        ("bad build", 1),
        ("still bad", 2),
        (None, 3),
    ]
    # --verify compares the comment: an edit Balrog made since is a difference.
    writer.update("emergency_shutoffs", BETA, {"comment": "after the import"}, "bob")
    found = differences(app, url)
    assert [line for line in found if line.startswith("emergency_shutoffs")] == [
        "emergency_shutoffs Firefox/beta: comment: Balrog 'after the import', rulelog None",
        "emergency_shutoffs Firefox/beta: data_version: Balrog 4, rulelog 3",
    ]
    # ... and a catch-up brings it over as the same event.
    assert run_import(app, url, since_last=True).rows == {"emergency_shutoffs": 1}
    assert differences(app, url) == []
