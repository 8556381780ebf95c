"""Telling "the database refuses writes" from other database errors, as each store words it."""

from __future__ import annotations

import sqlite3

import psycopg.errors
import pytest
import sqlalchemy.exc
from eventsourcing.persistence import ProgrammingError as StoreProgrammingError

from rulelog.projections.read_only import refused
from rulelog.services.log_notices import LogNotices


def _by_sqlalchemy(cls: type[sqlalchemy.exc.DBAPIError], error: Exception) -> Exception:
    return cls("INSERT ...", {}, error)


def _by_eventsourcing(error: Exception) -> Exception:
    """eventsourcing-sqlalchemy raises its own error ``from`` SQLAlchemy's."""
    try:
        raise StoreProgrammingError(str(error)) from error
    except StoreProgrammingError as wrapped:
        return wrapped


@pytest.mark.parametrize(
    ("error", "is_refusal"),
    [
        (
            _by_sqlalchemy(
                sqlalchemy.exc.ProgrammingError,
                psycopg.errors.InsufficientPrivilege("permission denied for table rulelog_events"),
            ),
            True,
        ),
        (
            _by_eventsourcing(
                _by_sqlalchemy(
                    sqlalchemy.exc.InternalError,
                    psycopg.errors.ReadOnlySqlTransaction(
                        "cannot execute INSERT in a read-only transaction"
                    ),
                )
            ),
            True,
        ),
        (
            _by_sqlalchemy(
                sqlalchemy.exc.OperationalError,
                sqlite3.OperationalError("attempt to write a readonly database"),
            ),
            True,
        ),
        (
            _by_sqlalchemy(
                sqlalchemy.exc.ProgrammingError,
                psycopg.errors.UndefinedTable('relation "rulelog_positions" does not exist'),
            ),
            False,
        ),
        (
            _by_sqlalchemy(
                sqlalchemy.exc.OperationalError, sqlite3.OperationalError("database is locked")
            ),
            False,
        ),
        (ValueError("attempt to write a readonly database"), False),
    ],
)
def test_refusals_are_told_from_other_errors(error: Exception, is_refusal: bool) -> None:
    assert refused(error) is is_refusal


def test_a_hot_standby_that_cannot_listen_leaves_the_node_polling() -> None:
    """LISTEN is refused during recovery: the notices thread ends, once, and does not
    reconnect every half second for ever."""
    opened = []

    def store() -> object:
        opened.append(1)
        raise psycopg.errors.ReadOnlySqlTransaction("cannot execute LISTEN during recovery")

    notices = LogNotices(store, lambda: None, retry=0.01)
    notices.start()
    thread = notices._thread
    assert thread is not None
    thread.join(timeout=10)
    assert not thread.is_alive() and opened == [1]
