"""``rulelog config``: the settings this invocation runs with, where each came from."""

from __future__ import annotations

import click

from rulelog.api.cli import main
from rulelog.api.cli.context import json_context, print_json
from rulelog.api.settings import DEFAULT_ALLOWLIST_WARNING, describe


@main.command("config")
@json_context
def config_command(ctx: click.Context, as_json: bool) -> None:
    """The effective settings (RULELOG_* variables and options), secrets masked."""
    root = ctx.find_root().obj
    explicit = {"database_url": root["database_url"]} if root.get("database_url") else {}
    if root.get("log_level"):
        explicit["log_level"] = root["log_level"]
    rows = describe(root["settings"], explicit=explicit)
    if as_json:
        print_json({row["setting"]: row["value"] for row in rows})
        return
    width = max(len(row["setting"]) for row in rows)
    for row in rows:
        value = "(unset)" if row["value"] in (None, "") else row["value"]
        click.echo(f"{row['setting'].ljust(width)}  {value}  [{row['source']}]")
    if root["settings"].domain_allowlist is None:
        click.echo(f"note: {DEFAULT_ALLOWLIST_WARNING}", err=True)
