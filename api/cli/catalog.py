"""Commands over the catalogue: import, rules, releases, the event log, demo."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from contextlib import nullcontext
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from rulelog.api.cli import main
from rulelog.api.cli.context import (
    app_from,
    echo_row,
    json_context,
    json_option,
    local_user,
    print_json,
    raw_store_url,
    refuse_missing_file,
    refuse_missing_store,
    report,
    shown_default_option,
    store_url,
    writing_context,
)
from rulelog.api.cli.progress import TableBars
from rulelog.api.logs import get_logger
from rulelog.domain.errors import Invalid
from rulelog.projections.listing_file import current_pages, sqlite_file
from rulelog.projections.listing_text import listing_bytes

if TYPE_CHECKING:  # the application and the domain load only when a command needs them
    from rulelog.domain.catalog.snapshot import ImportSummary
    from rulelog.projections.listings import Listing
    from rulelog.projections.state import Catalog
    from rulelog.services.application import RulelogApp

log = get_logger("rulelog.cli")

#: Imports larger than this show a progress bar when stderr is a terminal.
PROGRESS_THRESHOLD = 200
#: An update request the demo data answers (a Firefox 120 on Windows 10, release channel).
DEMO_URL = (
    "http://127.0.0.1:8000/update/6/Firefox/120.0/20231116134553/WINNT_x86_64-msvc-x64/en-US/"
    "release/Windows_NT%2010.0.0.0.22631.2861%20(x64)/ISET:SSE4_2,MEM:16384/default/default/"
    "update.xml?force=1"
)
#: The admin the demo data is imported as (``--as demo`` to act as it).
DEMO_ADMIN = "demo"
RULE_TABLE = ("rule_id", "alias", "priority", "product", "channel", "mapping", "backgroundRate")


def load_snapshot(path: Path) -> object:
    """The snapshot in ``path``, read item by item as it is imported (never whole):
    a file that cannot be opened is refused now, one that is not JSON or not a
    snapshot when the import checks its shape, before anything is written.

    ``-`` is standard input, which can be read only once: it is parsed whole.
    """
    if str(path) == "-":
        try:
            return json.load(sys.stdin)
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise Invalid(f"standard input: not valid JSON: {error}") from None
    from rulelog.services.snapshot_import import snapshot_file

    return snapshot_file(path)


def run_import(app: RulelogApp, snapshot: object, actor: str) -> ImportSummary:
    """Import ``snapshot`` (a parsed object or a file's source) as ``actor``.

    On a terminal, a bar per phase on stderr: items validated (out of the total
    the shape check counted), then events written.
    """
    from rulelog.domain.catalog.snapshot import source_of

    source = source_of(snapshot)
    total = sum(source.sizes().values()) if sys.stderr.isatty() else 0
    show = total > PROGRESS_THRESHOLD
    bars_cm: Any = TableBars({"validating": total}, sys.stderr) if show else nullcontext(None)
    with bars_cm as bars:
        summary = app.import_snapshot(source, actor, progress=bars.update if bars else None)
    log.info("import.done", actor=actor, **summary.__dict__)
    return summary


@main.command("import")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False, allow_dash=True))
@writing_context
def import_command(ctx: click.Context, file: Path, as_json: bool, actor: str | None) -> None:
    """Import a Balrog snapshot (rules, releases, shutoffs, pins) atomically.

    FILE is read item by item (``-``: standard input, read whole). The acting
    user must be an admin (``rulelog users add NAME --admin``).
    """
    summary = run_import(app_from(ctx, create=True), load_snapshot(file), actor or local_user())
    report(
        as_json,
        dict(summary.__dict__),
        f"imported {summary.rules} rules, {summary.releases} releases, "
        f"{summary.emergency_shutoffs} emergency shutoffs, "
        f"{summary.pinnable_releases} pinnable releases ({summary.events} events)",
    )


def current_catalog(app: RulelogApp, *, keep_ended: bool = False) -> Catalog:
    """The catalogue now: the timeline's newest checkpoint plus the events after it.

    Folding the whole log took minutes on a store of millions of events. Checkpoints
    drop ended scheduled changes, so a listing that keeps them still folds the log.
    """
    from rulelog.api.config import open_timeline
    from rulelog.projections.log import read_log
    from rulelog.projections.state import Catalog

    if keep_ended:
        return Catalog(keep_ended=True).fold(read_log(app))
    return open_timeline(app).current()


def print_table(rows: list[dict[str, Any]], columns: tuple[str, ...]) -> None:
    cells = [[("" if r.get(c) is None else str(r.get(c))) for c in columns] for r in rows]
    widths = [max([len(c), *(len(row[i]) for row in cells)]) for i, c in enumerate(columns)]
    click.echo("  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip())
    for row in cells:
        click.echo("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())


@main.group()
def rules() -> None:
    """Rules: list and show."""


@rules.command("list")
@json_context
def rules_list(ctx: click.Context, as_json: bool) -> None:
    """List the live rules, highest priority first."""
    print_listing(ctx, "rules", as_json, (*RULE_TABLE, "data_version"))


def print_listing(ctx: click.Context, kind: str, as_json: bool, columns: tuple[str, ...]) -> None:
    """A listing's rows (rules, releases) at the head of the log, as ``print_json``
    (``--json``) or ``print_table`` prints them.

    Rows already at the head in a SQLite file are read with the standard library
    alone (``listing_file``: not even SQLAlchemy is loaded); elsewhere, when the
    rows are there (one statement tells), without opening the application (no
    domain, no ``eventsourcing``, no fold). Otherwise the application folds the
    events the rows have not seen.
    """
    root = ctx.find_root().obj
    path = None if "app" in root else sqlite_file(raw_store_url(ctx))
    if path is not None:
        refuse_missing_file(path)
        with current_pages(path, kind) as pages:
            if pages is not None:
                print_pages(pages, as_json, columns)
                return
    print_pages(listing(ctx, kind).encoded(), as_json, columns)


def listing(ctx: click.Context, kind: str) -> Listing:
    """The rows through SQLAlchemy, folded up to the head of the log if they lag."""
    from rulelog.projections.listings import KINDS, Listing

    chosen = next(k for k in KINDS if k.name == kind)
    url = None if "app" in ctx.find_root().obj else store_url(ctx)
    if url is not None:
        refuse_missing_store(url)
        rows = Listing.open(url, chosen)
        if rows.behind() is False:
            return rows
        rows.engine.dispose()
    app = app_from(ctx)
    rows = Listing.of(app, chosen)
    rows.catch_up(app)
    return rows


def print_pages(pages: Iterable[list[bytes]], as_json: bool, columns: tuple[str, ...]) -> None:
    if not as_json:
        print_table([json.loads(text) for page in pages for text in page], columns)
        return
    sys.stdout.flush()
    out = click.get_binary_stream("stdout")
    for piece in listing_bytes(pages):  # print_json's text, a page at a time
        out.write(piece)
    out.write(b"\n")
    out.flush()


@rules.command("show")
@click.argument("id_or_alias")
@json_context
def rules_show(ctx: click.Context, id_or_alias: str, as_json: bool) -> None:
    """Show one rule by id or alias."""
    rule = app_from(ctx).get_rule(id_or_alias).as_balrog()
    echo_row(as_json, rule, lambda value: "" if value is None else value)


@main.group()
def releases() -> None:
    """Releases: list and show."""


@releases.command("list")
@json_context
def releases_list(ctx: click.Context, as_json: bool) -> None:
    """List the releases by name."""
    print_listing(ctx, "releases", as_json, ("name", "product", "read_only", "data_version"))


@releases.command("show")
@click.argument("name")
@json_context
def releases_show(ctx: click.Context, name: str, as_json: bool) -> None:
    """Show one release with its blob."""
    release = app_from(ctx).get_release(name)
    if as_json:
        print_json({**release.as_balrog(), "data": release.blob})
    else:
        for key, value in release.as_balrog().items():
            click.echo(f"{key}: {value}")
        click.echo("data: " + json.dumps(release.blob, indent=2))


@main.command()
@json_option
@shown_default_option("--limit", click.IntRange(min=1), 50, "Show the most recent N events.")
@click.pass_context
def events(ctx: click.Context, as_json: bool, limit: int) -> None:
    """The event log itself: position, time, actor, event type, aggregate."""
    from rulelog.projections.log import last_position, read_log

    app = app_from(ctx)
    start = max(1, last_position(app) - limit + 1)
    rows = [
        {
            "position": e.position,
            "time": e.timestamp.isoformat(),
            "actor": e.actor,
            "event": e.topic,
            "aggregate": str(e.originator_id),
            "version": e.originator_version,
        }
        for e in read_log(app, start=start)
    ]
    if as_json:
        print_json(rows)
    else:
        print_table(rows, ("position", "time", "actor", "event", "aggregate", "version"))


@main.command()
@json_context
def demo(ctx: click.Context, as_json: bool) -> None:
    """Load the bundled demo data into an empty store, then list the rules."""
    from rulelog.projections.log import last_position

    app = app_from(ctx, create=True)
    loaded = None
    if last_position(app) == 0:
        snapshot_file = resources.files("rulelog.api").joinpath("demo_snapshot.json")
        snapshot = json.loads(snapshot_file.read_text())
        app.add_user(DEMO_ADMIN, admin=True, recorded_by=local_user())
        loaded = run_import(app, snapshot, DEMO_ADMIN)
    if as_json:
        summary = dict(loaded.__dict__) if loaded else None
        print_json({"loaded": summary, "admin": DEMO_ADMIN, "try": DEMO_URL})
        return
    if loaded:
        click.echo(f"loaded demo data: {loaded.rules} rules, {loaded.releases} releases")
    else:
        click.echo("store already has data; showing it")
    ctx.invoke(rules_list, as_json=False)
    click.echo(f"\nTry (once `rulelog serve public` runs):\n  curl '{DEMO_URL}'")
