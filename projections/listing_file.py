"""A listing's rows read from a SQLite store's file with the standard library.

``rules list --json`` on a store whose rows are current is two small reads and
one ordered scan. Through SQLAlchemy, at 100k rules, importing it took 0.17 s of
the command's 0.95 s and its result rows another 0.1 s, and the texts were
decoded to be encoded again. Here they are read as the bytes stored (they are
ASCII: ``listing_text.render`` escapes everything else) and written as they are;
the command took 0.6 s. Any other store, and rows that are behind the log or
were never built, are read by ``listings.Listing``, which can fold and write.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import quote

from rulelog.projections.listing_text import PAGE_ROWS

__all__ = ["EVENTS_TABLE", "POSITIONS_TABLE", "ROWS_TABLE", "current_pages", "sqlite_file"]

#: The application's stored-events table (``eventsourcing_sqlalchemy`` names it
#: after the application, ``RulelogApp.name``); a test keeps the two equal.
EVENTS_TABLE = "rulelog_events"
#: ``listings``' tables: each listing's rows, and the position they are at.
ROWS_TABLE = "rulelog_listing_rows"
POSITIONS_TABLE = "rulelog_listing_positions"
_PREFIXES = ("sqlite:///", "sqlite+pysqlite:///")


def sqlite_file(url: str) -> str | None:
    """The file a plain ``sqlite:///PATH`` URL names; None for any other URL.

    Only the plain form is read here: a query string, an escape or an in-memory
    database is left to SQLAlchemy's parser, on the general path.
    """
    for prefix in _PREFIXES:
        if url.startswith(prefix):
            path = url[len(prefix) :]
            plain = path and path != ":memory:" and not path.startswith("file:")
            return path if plain and not any(c in path for c in "?#%") else None
    return None


@contextmanager
def current_pages(path: str, kind: str) -> Iterator[Iterator[list[bytes]] | None]:
    """The rows of listing ``kind`` as stored texts, a page at a time in listing
    order, when they are at the head of the log; None when they are not (behind
    it, never built) or cannot be read here (no such tables, a file SQLite will
    not open read-only), for the general path to make or report.

    The check and the rows are read in one transaction, so rows a writer moves on
    meanwhile are not listed against a head they never saw. Consume the pages
    inside the ``with``.
    """
    uri = f"file:{quote(os.path.abspath(path))}?mode=ro"
    try:
        conn = sqlite3.connect(uri, uri=True, isolation_level=None)
    except sqlite3.Error:
        yield None
        return
    try:
        try:
            conn.execute("BEGIN")
            head = conn.execute(f"SELECT max(id) FROM {EVENTS_TABLE}").fetchone()[0]
            found = conn.execute(
                f"SELECT position FROM {POSITIONS_TABLE} WHERE kind = ?", (kind,)
            ).fetchone()
        except sqlite3.Error:
            found = None
        yield None if found is None or (head or 0) > found[0] else _pages(conn, kind)
    finally:
        conn.close()


def _pages(conn: sqlite3.Connection, kind: str) -> Iterator[list[bytes]]:
    cursor = conn.execute(
        f"SELECT CAST(rendered AS BLOB) FROM {ROWS_TABLE} WHERE kind = ? ORDER BY sort_key",
        (kind,),
    )
    while page := cursor.fetchmany(PAGE_ROWS):
        yield [text for (text,) in page]
