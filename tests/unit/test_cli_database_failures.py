"""Store errors the CLI meets become one line and an exit code (``_database_failure``),
``sqlite3``'s own included: a listing reads a SQLite file without SQLAlchemy."""

from __future__ import annotations

import sqlite3

import pytest
from sqlalchemy.exc import OperationalError

from rulelog.api.cli import EXIT_DATABASE_UNAVAILABLE, EXIT_UNEXPECTED, _database_failure


@pytest.mark.parametrize(
    ("error", "code", "message"),
    [
        (sqlite3.OperationalError("disk I/O error"), EXIT_DATABASE_UNAVAILABLE,
         "database unavailable: disk I/O error"),
        (sqlite3.DatabaseError("database disk image is malformed"), EXIT_UNEXPECTED,
         "database error: database disk image is malformed"),
        (OperationalError("SELECT 1", {}, Exception("connection refused")),
         EXIT_DATABASE_UNAVAILABLE, "database unavailable: connection refused"),
    ],
)  # fmt: skip
def test_a_store_error_is_one_line_with_its_code(
    error: Exception, code: int, message: str
) -> None:
    failure = _database_failure(error)
    assert failure is not None
    assert (failure.exit_code, failure.message) == (code, message)


def test_anything_else_is_left_to_surface() -> None:
    assert _database_failure(ValueError("not a store's")) is None
