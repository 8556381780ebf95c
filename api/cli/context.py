"""What every command needs from the group: the store, and who is acting."""

from __future__ import annotations

import getpass
import json
import os
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from rulelog.services.application import RulelogApp


def app_from(ctx: click.Context, *, create: bool = False) -> RulelogApp:
    """The application for this invocation, opened once and shared by its commands.

    Only commands that create a store pass ``create``: for any other, a SQLite
    file that does not exist is a mistyped ``--database-url`` far more often
    than a wish for a new, empty store, so it is refused (naming the path).
    """
    from rulelog.api.config import database_url, open_app

    root = ctx.find_root()
    if "app" not in root.obj:
        url = database_url(root.obj.get("database_url"))
        if not create:
            refuse_missing_store(url)
        root.obj["app"] = open_app(url)
    return root.obj["app"]


def raw_store_url(ctx: click.Context) -> str:
    """The store's URL as given (``--database-url``, else the settings), unchecked."""
    root = ctx.find_root().obj or {}
    settings = root.get("settings")
    return root.get("database_url") or (settings.database_url if settings else None) or ""


def store_url(ctx: click.Context) -> str | None:
    """The store's URL as ``api.config.database_url`` gives it, without importing
    the application (as that module does); None for a URL it refuses, which the
    application's path then refuses in one line."""
    from rulelog.api.database_url import normalized_url
    from rulelog.domain.errors import Invalid

    url = raw_store_url(ctx)
    if not url:
        return None
    try:
        return normalized_url(url)
    except Invalid:
        return None


def refuse_missing_store(url: str) -> None:
    """``NotFound`` naming the file when ``url`` is a SQLite store that does not exist."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    path = parsed.database
    if parsed.get_backend_name() != "sqlite" or not path or path == ":memory:":
        return
    if not path.startswith("file:"):
        refuse_missing_file(path)


def refuse_missing_file(path: str) -> None:
    """``NotFound`` naming ``path``, a SQLite store's file, when it does not exist."""
    from rulelog.domain.errors import NotFound

    if os.path.exists(path):
        return
    raise NotFound(
        f"no store at {os.path.abspath(path)} (check --database-url; `rulelog demo`, "
        "`rulelog import` or `rulelog users add NAME --admin` create one)"
    )


def local_user() -> str:
    """Who runs the CLI, recorded as ``changed_by`` when ``--as`` is not given."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def as_option(func: Any) -> Any:
    return click.option(
        "--as",
        "actor",
        default=None,
        metavar="USER",
        help="Identity recorded as changed_by [default: the local user].",
    )(func)


def json_option(func: Any) -> Any:
    return click.option("--json", "as_json", is_flag=True, help="Print JSON.")(func)


def json_context(func: Any) -> Any:
    """The pair most commands take: ``--json`` and the click context (for the store)."""
    return json_option(click.pass_context(func))


def writing_context(func: Any) -> Any:
    """What a command that writes takes: ``--json``, ``--as USER`` and the context."""
    return json_option(as_option(click.pass_context(func)))


def shown_default_option(name: str, kind: click.ParamType, default: Any, help: str) -> Any:
    """An option with a bounded type whose default ``--help`` shows (a limit, a delay)."""
    return click.option(name, type=kind, default=default, show_default=True, help=help)


def print_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, sort_keys=False, default=str))


def echo_row(
    as_json: bool, record: Mapping[str, Any], shown: Callable[[Any], object] = str
) -> None:
    """``record`` as JSON with ``--json``; else a ``key: value`` line per field, each value
    as ``shown`` writes it."""
    if as_json:
        print_json(record)
    else:
        for key, value in record.items():
            click.echo(f"{key}: {shown(value)}")


def actor_of(actor: str | None) -> str:
    """The identity a command acts as: ``--as`` or the local user."""
    return actor or local_user()


def report(as_json: bool, payload: Any, *lines: str) -> None:
    """What a command did: ``payload`` as JSON with ``--json``, else the lines for a person."""
    if as_json:
        print_json(payload)
    else:
        for line in lines:
            click.echo(line)
