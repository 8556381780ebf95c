"""A database URL checked and normalised to a driver rulelog ships with.

Kept apart from ``api.config`` (which opens the application) so that a CLI
command answering from projection rows can find its store without loading
the application, the domain or eventsourcing.
"""

from __future__ import annotations

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from rulelog.domain.errors import Invalid


def normalized_url(url: str) -> str:
    """``url`` with PostgreSQL's driver set to psycopg 3; refuses other backends."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise Invalid(f"database URL: cannot parse {url!r}", field="database_url") from None
    backend = parsed.get_backend_name()
    if backend == "postgresql":
        # psycopg 3 is the driver rulelog depends on; plain postgresql:// means psycopg2.
        return parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    if backend != "sqlite":
        raise Invalid(
            f"database URL: {backend} is not supported; use sqlite:/// or postgresql+psycopg://",
            field="database_url",
        )
    return url
