"""History and audit commands: revisions, the audit log, diffs, sync status, restore.

Each command is a thin shell over ``projections.history`` / ``audit`` / ``diff``:
parse, call, print (a table or lines, or ``--json`` with Balrog's field names,
every row with its ``position`` and recorded ``time``). Bad input raises the
domain's errors, which the group turns into one line and an exit code.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from rulelog.api.cli import main
from rulelog.api.cli.catalog import print_table
from rulelog.api.cli.context import (
    actor_of,
    app_from,
    as_option,
    json_context,
    json_option,
    print_json,
    shown_default_option,
)
from rulelog.api.cli.kinds import SC_KIND
from rulelog.api.cli.timeline import timeline_from
from rulelog.domain.errors import Invalid
from rulelog.projections.audit import KINDS, changes
from rulelog.projections.diff import diff_states, live_test_diff, sync_status
from rulelog.projections.history import release_history, rule_history, sc_history, short, summarize
from rulelog.services.verification import restore_verified

Row = dict[str, Any]


def _signoffs(status: Row) -> str:
    given = ", ".join(f"{u} as {r}" for u, r in status["signoffs"].items()) or "none"
    required = ", ".join(f"{r['signoffs_required']} {r['role']}" for r in status["required"])
    verdict = "signed off" if status["signed_off"] else f"missing {status['missing']}"
    return f"signoffs: {given}; required: {required or 'none'} ({verdict})"


def _print_revisions(revisions: list[Row]) -> None:
    for rev in revisions:
        changed = summarize(rev["changes"]) if rev["event"] not in ("created", "scheduled") else ""
        click.echo(
            f"{rev['position']:>7}  {rev['time']}  {rev['actor'] or '-'}  {rev['event']}"
            + (f"  {changed}" if changed else "")
        )
        sc = rev.get("scheduled_change")
        if sc:
            click.echo(
                f"{'':9}enacted {sc['kind']}/{sc['sc_id']} ({sc['change_type']}, scheduled by "
                f"{sc['scheduled_by']}, enacted by {sc['enacted_by']}); {_signoffs(sc)}"
            )


@main.group("history")
def history() -> None:
    """Every revision of a rule, release or scheduled change: who, when, what, signoffs."""


def _revisions_command(
    name: str, metavar: str, read: Callable[[Any, Any, str], list[Any]], doc: str
) -> None:
    """``history rule`` and ``history release``: the revisions of one row, printed alike."""

    def command(ctx: click.Context, key: str, as_json: bool) -> None:
        revisions = read(app_from(ctx), timeline_from(ctx), key)
        if as_json:
            print_json(revisions)
        else:
            _print_revisions(revisions)

    command.__doc__ = doc
    argument = click.argument("key", metavar=metavar)
    history.command(name)(argument(json_option(click.pass_context(command))))


_revisions_command(
    "rule",
    "ID|ALIAS",
    rule_history,
    "Revisions of one rule (deleted rules too), with the scheduled change each enacted.",
)
_revisions_command(
    "release",
    "NAME",
    release_history,
    "Revisions of one release name (blobs by their sha256 digest).",
)


@history.command("sc")
@click.argument("kind", type=SC_KIND)
@click.argument("sc_id")
@json_context
def history_sc(ctx: click.Context, kind: str, sc_id: str, as_json: bool) -> None:
    """Steps of one scheduled change: scheduled, modified, signoffs, enacted or cancelled."""
    steps = sc_history(app_from(ctx), timeline_from(ctx), kind, sc_id)
    if as_json:
        print_json(steps)
        return
    _print_revisions(steps)
    if steps:
        click.echo(f"{'':9}{_signoffs(steps[-1])}; status {steps[-1]['row']['status']}")


@main.command("changes")
@click.option("--since", metavar="T", help="From the state at T (ISO 8601, epoch ms, position:N).")
@click.option("--until", metavar="T", help="To the state at T [default: now].")
@click.option("--product", help="Only rows of this product (rows without one are kept).")
@click.option("--channel", help="Only rows on this channel (rows without one are kept).")
@click.option("--by", metavar="USER", help="Only what USER did.")
@click.option(
    "--kind", "kinds", multiple=True, metavar="KIND", help=f"Only these: {', '.join(KINDS)}."
)
@json_context
def changes_command(
    ctx: click.Context,
    since: str | None,
    until: str | None,
    product: str | None,
    channel: str | None,
    by: str | None,
    kinds: tuple[str, ...],
    as_json: bool,
) -> None:
    """The audit log: one line per change between two times."""
    rows = changes(
        app_from(ctx),
        timeline_from(ctx),
        since,
        until,
        product=product,
        channel=channel,
        by=by,
        kinds=kinds,
    )
    if as_json:
        print_json(rows)
        return
    for row in rows:
        if row.get("scheduled_change"):
            row["summary"] += f" [enacting {row['scheduled_change']}]"
    print_table(rows, ("position", "time", "actor", "kind", "what", "summary"))


def _print_tables(diff: Row) -> None:
    for table in ("rules", "releases", "shutoffs", "pins"):
        sides = diff[table]
        for item in sides["added"] + sides["removed"]:
            sign = "+" if item in sides["added"] else "-"
            click.echo(f"{sign} {table[:-1]} {_label(table, item)}{_by(item)}")
        for item in sides["changed"]:
            click.echo(f"~ {table[:-1]} {_label(table, item)}{_by(item)}")
            for field, change in item["changes"].items():
                click.echo(f"    {field}: {short(change['from'])} -> {short(change['to'])}")


def _label(table: str, item: Row) -> str:
    if table == "rules":
        alias = item.get("alias")
        return f"{item['rule_id']}" + (f" ({alias})" if alias else "")
    if table == "releases":
        return str(item["name"])
    if "key" in item:
        return "/".join(item["key"])
    return "/".join(str(item[c]) for c in ("product", "channel", "version") if c in item)


def _by(item: Row) -> str:
    return f"  [by {', '.join(item['by'])}]" if item.get("by") else ""


@main.command("diff")
@click.argument("first", metavar="[T1]", required=False)
@click.argument("second", metavar="[T2]", required=False)
@click.option("--channel", help="Compare this channel's view (a test channel: its derived view).")
@click.option("--live", metavar="C", help="Compare live channel C ...")
@click.option("--test", metavar="T", help="... with its test channel T.")
@click.option("--at", metavar="T", help="With --live/--test: at time T [default: now].")
@json_context
def diff_command(
    ctx: click.Context,
    first: str | None,
    second: str | None,
    channel: str | None,
    live: str | None,
    test: str | None,
    at: str | None,
    as_json: bool,
) -> None:
    """What changed between T1 and T2 [default: now], or how test channel T differs
    from live channel C (--live C --test T): by exactly the pending changes."""
    timeline = timeline_from(ctx)
    if live or test:
        if not (live and test) or first or second or channel:
            raise Invalid("diff: give --live C --test T [--at T], or T1 [T2] [--channel C]")
        result = live_test_diff(timeline, live, test, at)
    else:
        if first is None or at is not None:
            raise Invalid("diff: give T1 [T2] [--channel C], or --live C --test T [--at T]")
        result = diff_states(timeline, first, second, channel)
    if as_json:
        print_json(result)
        return
    if live:
        click.echo(f"position {result['position']} at {result['time']}: {test} against {live}")
        for change in result["pending"]:
            click.echo(
                f"pending {change['kind']}/{change['sc_id']} {change['change_type']} "
                f"{change['target']}: {summarize(change['changes']) or 'no field changes'}"
            )
    else:
        click.echo(
            f"from position {result['from']['position']} ({result['from']['time']}) "
            f"to position {result['to']['position']} ({result['to']['time']})"
        )
    _print_tables(result["differences"] if live else result)


@main.command("sync-status")
@click.option("--at", metavar="T", help="As of T [default: now].")
@json_context
def sync_status_command(ctx: click.Context, at: str | None, as_json: bool) -> None:
    """For each live channel: its test channels and the pending changes between them."""
    status = sync_status(timeline_from(ctx), at)
    if as_json:
        print_json(status)
        return
    click.echo(f"position {status['position']} at {status['time']}")
    for channel in status["channels"]:
        state = "in sync" if channel["in_sync"] else f"{len(channel['pending'])} pending"
        ready = "" if channel["in_sync"] else ("; all signed off" if channel["ready"] else "")
        click.echo(f"{channel['channel']}: {state}{ready} ({', '.join(channel['test_channels'])})")
        for change in channel["pending"]:
            click.echo(
                f"    {change['kind']}/{change['sc_id']} {change['change_type']} "
                f"{change['target']}: {_signoffs(change)}"
            )


@main.command("restore")
@click.option("--channel", help="The live channel whose rules to restore.")
@click.option("--to", "to", metavar="T", help="The time (or position:N) to restore them to.")
@shown_default_option(
    "--delay", click.IntRange(min=1), 5, "Schedule the changes this many minutes from now."
)
@click.option("--dry-run", is_flag=True, help="Show what would be scheduled; schedule nothing.")
@as_option
@json_context
def restore_command(
    ctx: click.Context,
    channel: str | None,
    to: str | None,
    delay: int,
    dry_run: bool,
    actor: str | None,
    as_json: bool,
) -> None:
    """Schedule the rule changes that make CHANNEL's live rules what they were at T.

    Nothing goes live until the changes are signed off and enacted, as any other.
    """
    if not channel or not to:
        raise Invalid("restore: --channel C and --to T are required")
    app, timeline = app_from(ctx), timeline_from(ctx)
    result = restore_verified(
        app, timeline, channel, to, actor_of(actor), delay_minutes=delay, dry_run=dry_run
    )
    if as_json:
        print_json(result)
        return
    verb = "would schedule" if dry_run else "scheduled"
    if not result["changes"]:
        click.echo(f"{channel} already has its rules of position {result['to']['position']}")
    for change in result["changes"]:
        sc = f"rules/{change['sc_id']} " if change["sc_id"] else ""
        rule = change["rule_id"] or "(new id)"
        click.echo(
            f"{verb} {sc}{change['change_type']} of rule {rule} at {result['when']}: "
            f"{summarize(change['changes'])}"
        )
