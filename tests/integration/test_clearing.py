"""Clearing projections before a rebuild does not zero the pages it frees on
SQLite (``projections.clearing``), and leaves the connection as it found it."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from rulelog.api.config import open_timeline
from rulelog.projections.clearing import without_secure_delete
from tests.conftest import Store
from tests.integration.test_log_pipe import filled


def secure_delete(conn: object) -> int:
    return int(conn.exec_driver_sql("PRAGMA secure_delete").scalar())  # type: ignore[attr-defined]


@pytest.mark.parametrize("before", [0, 1])
def test_within_the_block_freed_pages_are_not_zeroed_and_after_it_as_before(
    tmp_path: Path, before: int
) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'a.db'}")
    with engine.begin() as conn:
        conn.exec_driver_sql(f"PRAGMA secure_delete = {before}")
        with without_secure_delete(conn):
            assert secure_delete(conn) == 0
        assert secure_delete(conn) == before


def wal_bytes_of_clearing(path: Path, zeroed: bool) -> int:
    engine = create_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        conn.exec_driver_sql("PRAGMA journal_mode = wal")
        conn.exec_driver_sql("CREATE TABLE t (id INTEGER PRIMARY KEY, data BLOB)")
        conn.execute(
            text("INSERT INTO t (data) VALUES (:data)"),
            [{"data": os.urandom(3000)} for _ in range(2000)],
        )
    with engine.begin() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    with engine.begin() as conn:
        conn.exec_driver_sql("PRAGMA secure_delete = 1")
        if zeroed:
            conn.exec_driver_sql("DELETE FROM t")
        else:
            with without_secure_delete(conn):
                conn.exec_driver_sql("DELETE FROM t")
    wal = Path(f"{path}-wal")
    written = wal.stat().st_size
    engine.dispose()
    return written


def test_clearing_a_table_writes_a_fraction_of_what_zeroing_it_writes(tmp_path: Path) -> None:
    """6 MB of rows: zeroing writes every freed page to the WAL, not zeroing a few."""
    zeroed = wal_bytes_of_clearing(tmp_path / "zeroed.db", zeroed=True)
    cleared = wal_bytes_of_clearing(tmp_path / "cleared.db", zeroed=False)
    assert zeroed > 6_000_000
    assert cleared < zeroed / 10


def test_a_rebuild_leaves_the_stores_setting_as_it_was(store: Store) -> None:
    app = filled(store)
    timeline = open_timeline(app)
    timeline.catch_up()
    timeline.rebuild()
    with timeline.engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            default = sqlite3.connect(":memory:").execute("PRAGMA secure_delete").fetchone()[0]
            assert secure_delete(conn) == default  # 1 where SQLite is built as Debian's
        else:
            with without_secure_delete(conn):  # nothing to do elsewhere
                assert conn.exec_driver_sql("SELECT 1").scalar() == 1
