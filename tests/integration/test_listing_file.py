"""A listing's rows read from a SQLite file without SQLAlchemy (``listing_file``):
the same bytes ``Listing`` reads, and nothing at all (the general path's turn)
whenever the rows are not at the head of the log or cannot be read here."""

from __future__ import annotations

from pathlib import Path

import pytest

from rulelog.api.config import open_app
from rulelog.projections.listing_file import current_pages, sqlite_file
from rulelog.projections.listings import RELEASES, RULES, Listing
from tests.integration.test_timeline_properties import apply, seed


@pytest.mark.parametrize(
    ("url", "path"),
    [
        ("sqlite:///rulelog.db", "rulelog.db"),
        ("sqlite:////tmp/a b/r.db", "/tmp/a b/r.db"),
        ("sqlite+pysqlite:///r.db", "r.db"),
        ("sqlite://", None),
        ("sqlite:///:memory:", None),
        ("sqlite:///file:r.db?mode=ro&uri=true", None),
        ("sqlite:///r%20.db", None),  # an escape: SQLAlchemy's parser decides
        ("postgresql+psycopg://postgres@127.0.0.1/test", None),
        ("", None),
    ],
)
def test_only_a_plain_sqlite_url_names_a_file(url: str, path: str | None) -> None:
    assert sqlite_file(url) == path


def listed(path: Path, kind: str) -> list[list[bytes]] | None:
    with current_pages(str(path), kind) as pages:
        return None if pages is None else list(pages)


def test_rows_at_the_head_are_the_bytes_the_listing_reads(tmp_path: Path) -> None:
    path = tmp_path / "r.db"
    app = open_app(f"sqlite:///{path}")
    seed(app)
    for command in [("create", "release", i, "R-1") for i in range(5)]:
        apply(app, command)
    assert listed(path, "rules") is None  # never built
    for kind in (RULES, RELEASES):
        rows = Listing.of(app, kind)
        rows.catch_up(app)
        pages = listed(path, kind.name)
        assert pages is not None and pages == list(rows.encoded())
        assert sum(len(page) for page in pages) == len(rows.rows()) > 0
    apply(app, ("update", 1, 40))
    assert listed(path, "rules") is None  # behind the log by one event


def test_a_file_without_the_tables_or_not_a_database_is_left_to_the_general_path(
    tmp_path: Path,
) -> None:
    empty = tmp_path / "empty.db"
    open_app(f"sqlite:///{empty}")  # the events table only
    assert listed(empty, "rules") is None
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"not a database" * 100)
    assert listed(garbage, "rules") is None
    assert listed(tmp_path / "missing.db", "rules") is None
    assert not (tmp_path / "missing.db").exists()  # read-only: nothing is created
