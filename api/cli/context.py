"""What every command needs from the group: the store, and who is acting."""

from __future__ import annotations

import getpass
import json
from typing import Any

import click

from api.config import open_app
from domain.application import RulelogApp


def app_from(ctx: click.Context) -> RulelogApp:
    """The application for this invocation, opened once and shared by its commands."""
    root = ctx.find_root()
    if "app" not in root.obj:
        root.obj["app"] = open_app(root.obj.get("database_url"))
    return root.obj["app"]


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


def print_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, sort_keys=False, default=str))


def actor_of(actor: str | None) -> str:
    """The identity a command acts as: ``--as`` or the local user."""
    return actor or local_user()
