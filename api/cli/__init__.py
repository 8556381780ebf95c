"""The ``rulelog`` command line.

Every command opens the store chosen by ``--database-url`` (or
``RULELOG_DATABASE_URL``), calls one application command or projection, and
prints. Domain errors become one line on stderr and a non-zero exit code,
mapped here and nowhere else (``EXIT_CODES``, documented in the README).

Command modules are imported only when their command runs (``COMMANDS``), so
``rulelog --help`` and ``--version`` start without loading SQLAlchemy, the
domain or structlog; ``rulelog --help`` reads each command's one-line summary
from ``COMMANDS`` (a test keeps it equal to the command's own).
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

import click

#: Top-level command -> (the module that defines it, its one-line summary).
COMMANDS: dict[str, tuple[str, str]] = {
    "agent": (
        "rulelog.api.cli.workflow",
        "Enact every due, fully signed-off scheduled change; log each decision.",
    ),
    "at": (
        "rulelog.api.cli.timeline",
        "The state at T: ISO 8601 UTC, epoch milliseconds, or position:N.",
    ),
    "changes": ("rulelog.api.cli.history", "The audit log: one line per change between two times."),
    "channels": (
        "rulelog.api.cli.timeline",
        "Test channels: derived (mapped, or by the -localtest/-cdntest suffix) or hand-kept.",
    ),
    "config": (
        "rulelog.api.cli.settings",
        "The effective settings (RULELOG_* variables and options), secrets masked.",
    ),
    "demo": (
        "rulelog.api.cli.catalog",
        "Load the bundled demo data into an empty store, then list the rules.",
    ),
    "diff": (
        "rulelog.api.cli.history",
        "What changed between T1 and T2 [default: now], or how test channel T differs from "
        "live channel C (--live C --test T): by exactly the pending changes.",
    ),
    "events": (
        "rulelog.api.cli.catalog",
        "The event log itself: position, time, actor, event type, aggregate.",
    ),
    "expect": ("rulelog.api.cli.expect", "Expectations: add, list, show, remove, import, check."),
    "explain": (
        "rulelog.api.cli.timeline",
        "What the update request URL got (or would have got at T), and why.",
    ),
    "history": (
        "rulelog.api.cli.history",
        "Every revision of a rule, release or scheduled change: who, when, what, signoffs.",
    ),
    "impact": (
        "rulelog.api.cli.impact",
        "What a change would do to sampled update requests (RULELOG_IMPACT_SAMPLE_RATE).",
    ),
    "import-balrog": (
        "rulelog.api.cli.balrog",
        "Import a Balrog database with its whole history into an empty store.",
    ),
    "import": (
        "rulelog.api.cli.catalog",
        "Import a Balrog snapshot (rules, releases, shutoffs, pins) atomically.",
    ),
    "projections": (
        "rulelog.api.cli.timeline",
        "The projection tables (position/time index, checkpoints).",
    ),
    "releases": ("rulelog.api.cli.catalog", "Releases: list and show."),
    "restore": (
        "rulelog.api.cli.history",
        "Schedule the rule changes that make CHANNEL's live rules what they were at T.",
    ),
    "rules": ("rulelog.api.cli.catalog", "Rules: list and show."),
    "sc": (
        "rulelog.api.cli.workflow",
        "Scheduled changes: list, show, schedule, modify, signoff, revoke, cancel, enact.",
    ),
    "serve": (
        "rulelog.api.cli.serve",
        "Run an HTTP server (the public update server, the admin API, or both).",
    ),
    "signoffs": ("rulelog.api.cli.access", "Signoff policies."),
    "sync-status": (
        "rulelog.api.cli.history",
        "For each live channel: its test channels and the pending changes between them.",
    ),
    "tokens": (
        "rulelog.api.cli.tokens",
        "API tokens (Authorization: Bearer TOKEN) for `rulelog serve admin`.",
    ),
    "uptake": (
        "rulelog.api.cli.access",
        "Uptake reports (make uptake-gated scheduled changes due).",
    ),
    "users": ("rulelog.api.cli.access", "Users, their permissions and roles."),
}

#: Exit codes, by what went wrong (documented in the README's "Exit codes").
EXIT_OK = 0
EXIT_UNEXPECTED = 1  # a database error other than "unavailable", or a bug
EXIT_INVALID = 2  # bad input or usage (click's own usage errors are 2 as well)
EXIT_NOT_FOUND = 3  # includes a store that does not exist
EXIT_CONFLICT = 4
EXIT_PERMISSION_DENIED = 5
EXIT_SIGNOFF_REQUIRED = 6
EXIT_DATABASE_UNAVAILABLE = 7  # cannot connect to the store
EXIT_ADDRESS_IN_USE = 8  # `serve`: the port is taken

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def exit_code(error: Exception) -> int:
    """The exit code for a domain error (anything else is 1)."""
    from rulelog.domain.errors import Conflict, Invalid, NotFound, PermissionDenied, SignoffRequired

    codes: list[tuple[type[Exception], int]] = [
        (Invalid, EXIT_INVALID),
        (NotFound, EXIT_NOT_FOUND),
        (Conflict, EXIT_CONFLICT),
        (PermissionDenied, EXIT_PERMISSION_DENIED),
        (SignoffRequired, EXIT_SIGNOFF_REQUIRED),
    ]
    for cls, code in codes:
        if isinstance(error, cls):
            return code
    return EXIT_UNEXPECTED


class Failure(click.ClickException):
    """A one-line failure with a chosen exit code (the CLI's own, not the domain's)."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.exit_code = code

    def show(self, file: Any = None) -> None:
        click.echo(f"rulelog: {self.message}", err=True)


def _database_failure(error: Exception) -> Failure | None:
    """Store errors as one line: 7 when the store cannot be reached, else 1.

    ``sqlite3``'s own are among them: a listing reads a SQLite file's rows
    without SQLAlchemy (``projections.listing_file``).
    """
    import sqlite3

    from sqlalchemy.exc import InterfaceError, OperationalError, SQLAlchemyError

    from rulelog.projections.read_only import refused

    try:
        from eventsourcing.persistence import InterfaceError as EsInterface
        from eventsourcing.persistence import OperationalError as EsOperational
        from eventsourcing.persistence import PersistenceError
    except ImportError:  # pragma: no cover - eventsourcing is a dependency
        EsInterface = EsOperational = PersistenceError = ()  # type: ignore[assignment,misc]
    if not isinstance(error, SQLAlchemyError | PersistenceError | sqlite3.Error):
        return None
    original = getattr(error, "orig", None) or error.__cause__ or error
    original = getattr(original, "orig", None) or original  # eventsourcing wraps SQLAlchemy's
    reason = (str(original).strip().splitlines() or [type(original).__name__])[0]
    if refused(error):  # a replica, or a role that may only read: this command writes
        return Failure(f"the database is read-only here ({reason})", EXIT_UNEXPECTED)
    unreachable = (OperationalError, InterfaceError, EsOperational, EsInterface)
    if isinstance(error, (*unreachable, sqlite3.OperationalError, sqlite3.InterfaceError)):
        return Failure(f"database unavailable: {reason}", EXIT_DATABASE_UNAVAILABLE)
    return Failure(f"database error: {reason}", EXIT_UNEXPECTED)


class RulelogGroup(click.Group):
    """Commands loaded on first use, and domain and store errors as one-line failures."""

    def main(self, *args: Any, standalone_mode: bool = True, **kwargs: Any) -> Any:
        """As click's, except that a usage error is one line too (click prints three)."""
        if not standalone_mode:
            return super().main(*args, standalone_mode=False, **kwargs)
        try:
            result = super().main(*args, standalone_mode=False, **kwargs)
        except click.UsageError as error:
            hint = f" (see '{error.ctx.command_path} --help')" if error.ctx else ""
            message = " ".join(error.format_message().split())
            click.echo(f"rulelog: {message}{hint}", err=True)
            sys.exit(error.exit_code)
        except click.ClickException as error:
            error.show()
            sys.exit(error.exit_code)
        except click.Abort:
            click.echo("rulelog: aborted", err=True)
            sys.exit(EXIT_UNEXPECTED)
        sys.exit(result if isinstance(result, int) else EXIT_OK)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*COMMANDS, *self.commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in COMMANDS:
            importlib.import_module(COMMANDS[cmd_name][0])
        return self.commands.get(cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = []
        limit = formatter.width - 6 - max(len(name) for name in self.list_commands(ctx))
        for name in self.list_commands(ctx):
            summary = COMMANDS[name][1] if name in COMMANDS else None
            if summary is None:
                command = self.get_command(ctx, name)
                if command is None or command.hidden:
                    continue
                summary = command.get_short_help_str(limit)
            if len(summary) > limit:
                summary = summary[: limit - 3].rstrip() + "..."
            rows.append((name, summary))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except Exception as error:
            from rulelog.domain.errors import RulelogError

            if isinstance(error, RulelogError):
                click.echo(f"rulelog: {error.message}", err=True)
                sys.exit(exit_code(error))
            failure = _database_failure(error)
            if failure is None:
                raise
            raise failure from None


def _version() -> str:
    from importlib import metadata

    try:
        return metadata.version("rulelog")
    except metadata.PackageNotFoundError:  # running from a source tree
        return "0.0.0"


def _print_version(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if value and not ctx.resilient_parsing:
        click.echo(f"rulelog {_version()}")
        ctx.exit()


@click.group(cls=RulelogGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--version",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=_print_version,
    help="Print the version and exit.",
)
@click.option(
    "--database-url",
    envvar="RULELOG_DATABASE_URL",
    default=None,
    metavar="URL",
    help="Event store, e.g. postgresql+psycopg://postgres@127.0.0.1:5432/test "
    "[env: RULELOG_DATABASE_URL; default: sqlite:///rulelog.db in the working directory].",
)
@click.option(
    "--log-level",
    type=click.Choice(LOG_LEVELS, case_sensitive=False),
    default=None,
    help="Least severe log level shown [env: RULELOG_LOG_LEVEL; default: INFO for servers "
    "and the agent, WARNING otherwise].",
)
@click.pass_context
def main(ctx: click.Context, database_url: str | None, log_level: str | None) -> None:
    """rulelog: an event-sourced update-rules engine, compatible with Balrog.

    Exit codes: 0 done, 1 unexpected error, 2 invalid input or usage, 3 not found
    (a missing store included), 4 conflict, 5 permission denied, 6 signoff required,
    7 database unavailable, 8 address in use.
    """
    from rulelog.api.logs import configure_process
    from rulelog.api.settings import SettingsError, load_settings

    try:
        settings = load_settings()
    except SettingsError as error:
        raise Failure(error.message, EXIT_INVALID) from None
    level = log_level.upper() if log_level else None
    long_running = ctx.invoked_subcommand in ("serve", "agent")
    configure_process(settings, level, default="INFO" if long_running else "WARNING")
    ctx.obj = {"database_url": database_url, "settings": settings, "log_level": level}
