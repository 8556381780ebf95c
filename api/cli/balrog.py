"""``rulelog import-balrog``: parse, call ``api.balrog_import`` / ``api.balrog_verify``, render."""

from __future__ import annotations

import sys
from contextlib import nullcontext
from typing import Any

import click

from rulelog.api.cli import main
from rulelog.api.cli.context import app_from, local_user, print_json, writing_context
from rulelog.api.cli.progress import TableBars
from rulelog.domain import ids
from rulelog.domain.balrog.marks import BalrogImport
from rulelog.services.balrog_import import (
    BalrogSource,  # the reader of a Balrog database
    history_row_counts,
    import_balrog,
)
from rulelog.services.balrog_verify import verify


@main.command("import-balrog")
@click.option(
    "--from",
    "url",
    required=True,
    metavar="URL",
    help="The Balrog database: mysql+pymysql://user:pw@host/db or sqlite:///balrog.db.",
)
@click.option("--dry-run", is_flag=True, help="Read and validate everything; write nothing.")
@click.option(
    "--since-last",
    is_flag=True,
    help="Append only the history written since this store's import (a catch-up).",
)
@click.option(
    "--verify",
    "check",
    is_flag=True,
    help="Compare the store with the Balrog database; exit 0 only if they agree.",
)
@writing_context
def import_balrog_command(
    ctx: click.Context,
    url: str,
    dry_run: bool,
    since_last: bool,
    check: bool,
    as_json: bool,
    actor: str | None,
) -> None:
    """Import a Balrog database with its whole history into an empty store.

    Every history row becomes the event it records, at its original time, by
    its original author; all or nothing. See the README's "Switching from
    Balrog" for the cut-over (import, --since-last, --verify).
    """
    # The import creates the store; --verify and --since-last need the one it made.
    app = app_from(ctx, create=not (check or since_last))
    source = BalrogSource(url)
    try:
        if check:
            _verify(app, source, as_json)
            return
        since = None
        if since_last:
            marks = app.find(ids.balrog_import_id(), BalrogImport)
            since = dict(marks.marks) if marks is not None else None
        show = sys.stderr.isatty() and not as_json
        # One bar per table, each out of its own count (counting costs a pass).
        bars_cm: Any = (
            TableBars(history_row_counts(source, since), sys.stderr) if show else nullcontext(None)
        )
        with bars_cm as bars:

            def progress(table: str, n: int) -> None:
                if bars is not None:
                    bars.update(table, n)

            summary = import_balrog(
                app,
                source,
                actor or local_user(),
                dry_run=dry_run,
                since_last=since_last,
                progress=progress,
            )
    finally:
        source.close()
    if as_json:
        print_json(summary.as_json())
    else:
        for line in summary.lines():
            click.echo(line)


def _verify(app: Any, source: BalrogSource, as_json: bool) -> None:
    found = []
    for line in verify(app, source):
        found.append(line)
        if not as_json:
            click.echo(line)
    if as_json:
        print_json({"source": source.safe_url, "differences": found})
    elif not found:
        click.echo(f"no differences with {source.safe_url}")
    if found:
        if not as_json:
            click.echo(f"rulelog: {len(found)} differences with {source.safe_url}", err=True)
        sys.exit(1)
