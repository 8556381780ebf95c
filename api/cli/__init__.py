"""The ``rulelog`` command line.

Every command opens the store chosen by ``--database-url`` (or
``RULELOG_DATABASE_URL``), calls one application command or projection, and
prints. Domain errors become one line on stderr and a non-zero exit code,
mapped here and nowhere else.
"""

from __future__ import annotations

import sys
from typing import Any

import click
from sqlalchemy.exc import SQLAlchemyError

from api.logs import configure_logging
from domain.errors import (
    Conflict,
    Invalid,
    NotFound,
    PermissionDenied,
    RulelogError,
    SignoffRequired,
)

#: Exit codes by error type (2 is click's own for usage errors, which are Invalid too).
EXIT_CODES: dict[type[RulelogError], int] = {
    Invalid: 2,
    NotFound: 3,
    Conflict: 4,
    PermissionDenied: 5,
    SignoffRequired: 6,
}


def exit_code(error: RulelogError) -> int:
    for cls, code in EXIT_CODES.items():
        if isinstance(error, cls):
            return code
    return 1


class RulelogGroup(click.Group):
    """A click group that turns domain and store errors into one-line failures."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except RulelogError as error:
            click.echo(f"rulelog: {error.message}", err=True)
            sys.exit(exit_code(error))
        except SQLAlchemyError as error:
            reason = str(getattr(error, "orig", None) or error).strip().splitlines()[0]
            click.echo(f"rulelog: database error: {reason}", err=True)
            sys.exit(1)


@click.group(cls=RulelogGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--database-url",
    envvar="RULELOG_DATABASE_URL",
    default=None,
    metavar="URL",
    help="Event store, e.g. postgresql+psycopg://postgres@127.0.0.1:5432/test "
    "[default: sqlite:///rulelog.db in the working directory].",
)
@click.option(
    "--log-level", default="WARNING", show_default=True, help="Least severe log level shown."
)
@click.pass_context
def main(ctx: click.Context, database_url: str | None, log_level: str) -> None:
    """rulelog: an event-sourced update-rules engine, compatible with Balrog."""
    configure_logging(log_level)
    ctx.obj = {"database_url": database_url}


# Register the command modules (each adds its commands to ``main``).
from api.cli import (  # noqa: E402,F401
    access,
    balrog,
    catalog,
    expect,
    history,
    serve,
    timeline,
    tokens,
    workflow,
)
