"""Reading a store whose database refuses writes: a replica, a SELECT-only role.

Balrog's public servers read a replica with a read-only user, and rulelog must
run the same way. The projections kept in the store's database (the timeline,
the listings, the request sample) are written as a side effect of reading: a
read brings them up to the head of the log first. Where the database refuses
that, a reader must still answer, from the rows the tables hold plus a fold in
memory of what they have not seen, and write nothing.

"Cannot write" is the database's own answer, not a setting: PostgreSQL's
``insufficient_privilege`` (42501: a role without INSERT, UPDATE or CREATE) or
``read_only_sql_transaction`` (25006: ``default_transaction_read_only``, or a
hot standby), and SQLite's "attempt to write a readonly database" (a file
opened with ``?mode=ro``, or one the process may not write). A database known
to refuse is remembered per engine, so a process asks once; the fallback is
logged once per projection.
"""

from __future__ import annotations

import sqlite3
import threading
import weakref
from collections.abc import Iterator

import structlog
from sqlalchemy import MetaData, inspect
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql import Executable

__all__ = [
    "absent_tables",
    "ensure_tables",
    "known_refusing",
    "mark_refusing",
    "note_fallback",
    "refused",
    "refuses_writes",
]

log = structlog.get_logger("rulelog.read_only")

#: PostgreSQL's SQLSTATEs for a write the database will not make.
REFUSING_SQLSTATES = frozenset({"42501", "25006"})
#: SQLite's message for the same (SQLITE_READONLY and its extended codes).
SQLITE_REFUSAL = "readonly database"

#: Engines whose database refused a write (weakly held: a disposed store is forgotten).
_REFUSING: weakref.WeakSet[Engine] = weakref.WeakSet()
_LOGGED: set[str] = set()
_LOGGING = threading.Lock()


def _causes(error: BaseException) -> Iterator[BaseException]:
    """``error``, the DB-API error SQLAlchemy wraps, and what raised them, in turn."""
    seen: set[int] = set()
    pending: list[BaseException | None] = [error]
    while pending:
        found = pending.pop()
        if found is None or id(found) in seen:
            continue
        seen.add(id(found))
        yield found
        pending.extend((getattr(found, "orig", None), found.__cause__, found.__context__))


def refused(error: BaseException) -> bool:
    """Whether ``error`` (or what caused it) is the database refusing a write."""
    for cause in _causes(error):
        if getattr(cause, "sqlstate", None) in REFUSING_SQLSTATES:  # psycopg 3
            return True
        if isinstance(cause, sqlite3.OperationalError) and SQLITE_REFUSAL in str(cause):
            return True
    return False


def known_refusing(engine: Engine) -> bool:
    """Whether ``engine``'s database has refused a write in this process (no query)."""
    return engine in _REFUSING


def mark_refusing(engine: Engine) -> None:
    """Remember that ``engine``'s database refused a write (a catch-up met it)."""
    _REFUSING.add(engine)


def refuses_writes(engine: Engine, probe: Executable) -> bool:
    """Whether the database refuses ``probe``: a write that changes nothing (an
    ``UPDATE`` whose condition matches no row), always rolled back.

    Both databases check the right to write when a statement starts, whatever it
    would match, so this answers before a catch-up reads and folds anything.
    """
    if engine in _REFUSING:
        return True
    try:
        with engine.connect() as conn:
            conn.execute(probe)
            conn.rollback()
    except DBAPIError as error:
        if not refused(error):
            raise
        _REFUSING.add(engine)
        return True
    return False


def absent_tables(engine: Engine, metadata: MetaData) -> frozenset[str]:
    """The tables of ``metadata`` the database does not hold."""
    found = inspect(engine)
    return frozenset(name for name in metadata.tables if not found.has_table(name))


def ensure_tables(engine: Engine, metadata: MetaData, projection: str) -> frozenset[str]:
    """Create ``metadata``'s missing tables; returns those the database would not
    let it create (read with none of their rows), logging that once."""
    if engine not in _REFUSING:
        try:
            metadata.create_all(engine)
            return frozenset()
        except DBAPIError as error:
            if not refused(error):
                raise
            _REFUSING.add(engine)
    missing = absent_tables(engine, metadata)
    if missing:
        note_fallback(projection, absent=sorted(missing))
    return missing


def note_fallback(projection: str, **context: object) -> None:
    """Log, once per process and projection, that it is read without being written."""
    with _LOGGING:
        if projection in _LOGGED:
            return
        _LOGGED.add(projection)
    log.info(
        "projection.read_only",
        projection=projection,
        message="the database refuses writes: reading the stored rows and folding the rest "
        "of the log in memory",
        **context,
    )
