"""Commands for scheduled changes and the enactment agent."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from rulelog.api.cli import main
from rulelog.api.cli.catalog import current_catalog, print_table
from rulelog.api.cli.context import (
    actor_of,
    app_from,
    as_option,
    echo_row,
    json_context,
    json_option,
    print_json,
    shown_default_option,
    writing_context,
)
from rulelog.api.cli.kinds import SC_KIND
from rulelog.api.config import open_timeline
from rulelog.domain.errors import Invalid
from rulelog.domain.workflow.scheduling import ScheduledChange
from rulelog.projections.expectations import blamed_summary
from rulelog.services.agent import Agent, PassReport
from rulelog.services.application import RulelogApp
from rulelog.services.verification import sign_off_verified, verify_scheduler_signoffs

KIND = SC_KIND


def sc_as_dict(sc: ScheduledChange) -> dict[str, Any]:
    """A scheduled change as the CLI and API show it."""
    return {
        "sc_id": sc.sc_id,
        "kind": sc.kind,
        "change_type": sc.change_type,
        "target": sc.target,
        "row": sc.row,
        "base_data_version": sc.base_data_version,
        **sc.condition,
        "scheduled_by": sc.scheduled_by,
        "signoffs": sc.signoffs,
        "required_signoffs": sc.required,
        "status": sc.status,
        "enacted_by": sc.enacted_by,
        "signoff_fingerprints": sc.signoff_fingerprints,
        "verification": sc.verification,
        "sc_data_version": sc.data_version,
    }


def _row(value: str | None) -> dict[str, Any]:
    if value is None:
        return {}
    text = value
    if value.startswith("@"):
        try:
            text = Path(value[1:]).read_text(encoding="utf-8")
        except OSError as error:
            raise Invalid(f"--row: cannot read {value[1:]}: {error.strerror}") from None
    try:
        parsed = json.loads(text)
    except json.JSONDecodeError as error:
        raise Invalid(f"--row: not valid JSON: {error}") from None
    if not isinstance(parsed, dict):
        raise Invalid("--row: must be a JSON object")
    return parsed


def _condition(when: str | None, telemetry: tuple[str, str, float] | None) -> dict[str, Any] | None:
    if when is None and telemetry is None:
        return None
    if telemetry is not None:
        product, channel, percent = telemetry
        return {
            "telemetry_product": product,
            "telemetry_channel": channel,
            "telemetry_uptake": percent,
        }
    return {"when": int(when) if when and when.isdigit() else when}


def condition_options(func: Any) -> Any:
    func = click.option(
        "--uptake",
        "telemetry",
        type=(str, str, float),
        metavar="PRODUCT CHANNEL PERCENT",
        help="Enact once reported uptake reaches PERCENT (rule changes only).",
    )(func)
    return click.option(
        "--when", help="Enact at this UTC time (ISO 8601, or milliseconds since the epoch)."
    )(func)


@main.group()
def sc() -> None:
    """Scheduled changes: list, show, schedule, modify, signoff, revoke, cancel, enact."""


@dataclass
class ScCall:
    """What a command on one scheduled change is given: its ``KIND SC_ID`` arguments,
    ``--json``, ``--as`` (for those that act) and the application."""

    ctx: click.Context
    kind: str
    sc_id: int
    as_json: bool
    actor: str | None = None

    @property
    def app(self) -> RulelogApp:
        return app_from(self.ctx)

    @property
    def user(self) -> str:
        return actor_of(self.actor)

    def done(self, change: ScheduledChange, message: str) -> None:
        """The change as JSON with ``--json``, else ``message``."""
        _done(change, self.as_json, message)


SC_DATA_VERSION = click.option(
    "--sc-data-version",
    type=int,
    required=True,
    help="The scheduled change's own data_version (as `sc show` prints it).",
)


def sc_command(
    name: str, *options: Callable[[Any], Any], version: bool = False, acts: bool = True
) -> Callable[[Callable[..., None]], click.Command]:
    """``sc NAME KIND SC_ID [--sc-data-version] [options] --json [--as]``: the command
    function is given a ``ScCall`` and its own options."""

    def wrap(func: Callable[..., None]) -> click.Command:
        @functools.wraps(func)
        def command(
            ctx: click.Context,
            kind: str,
            sc_id: int,
            as_json: bool,
            actor: str | None = None,
            **own: Any,
        ) -> None:
            func(ScCall(ctx, kind, sc_id, as_json, actor), **own)

        stack = [
            click.argument("kind", type=KIND),
            click.argument("sc_id", type=int),
            *([SC_DATA_VERSION] if version else []),
            *options,
            json_option,
            *([as_option] if acts else []),
            click.pass_context,
        ]
        decorated: Any = command
        for decorate in reversed(stack):
            decorated = decorate(decorated)
        return sc.command(name)(decorated)

    return wrap


@sc.command("list")
@click.option("--kind", type=KIND, help="Only this kind.")
@click.option("--all", "show_all", is_flag=True, help="Include cancelled and enacted changes.")
@json_context
def sc_list(ctx: click.Context, kind: str | None, show_all: bool, as_json: bool) -> None:
    """Pending scheduled changes in enactment order (when, then sc_id)."""
    catalog = current_catalog(app_from(ctx), keep_ended=show_all)
    rows = list(catalog.scheduled.values()) if show_all else catalog.pending()
    rows = [r for r in rows if kind is None or r["kind"] == kind]
    if as_json:
        print_json(rows)
        return
    table = [
        {
            **r,
            "when": r["condition"].get("when")
            or f"uptake {r['condition'].get('telemetry_uptake')}%",
            "signoffs": ", ".join(f"{u}:{role}" for u, role in r["signoffs"].items()),
        }
        for r in rows
    ]
    columns = ("kind", "sc_id", "change_type", "target", "when", "scheduled_by", "signoffs")
    print_table(table, (*columns, "status"))


@sc_command("show", acts=False)
def sc_show(call: ScCall) -> None:
    """One scheduled change, with the signoffs it still needs."""
    app, kind, sc_id = call.app, call.kind, call.sc_id
    change = app.get_scheduled_change(kind, sc_id)
    shown = sc_as_dict(change)
    if change.pending:
        shown["missing_signoffs"] = app.missing_signoffs(change)
        state = open_timeline(app).current()
        shown["failing_expectations"] = blamed_summary(app, state, kind, sc_id)
    shown["expectation_overrides"] = getattr(change, "expectation_overrides", [])
    echo_row(call.as_json, shown, lambda v: json.dumps(v) if isinstance(v, dict | list) else v)


@sc.command("schedule")
@click.argument("kind", type=KIND)
@click.argument("change_type", type=click.Choice(["insert", "update", "delete"]))
@click.option("--row", help="The new row (or its key, for delete) as JSON, or @FILE.")
@click.option("--data-version", type=int, help="The target row's data_version (update/delete).")
@condition_options
@writing_context
def sc_schedule(
    ctx: click.Context,
    kind: str,
    change_type: str,
    row: str | None,
    data_version: int | None,
    when: str | None,
    telemetry: tuple[str, str, float] | None,
    as_json: bool,
    actor: str | None,
) -> None:
    """Schedule an insert, update or delete."""
    condition = _condition(when, telemetry)
    if condition is None:
        raise Invalid("give --when or --uptake")
    app = app_from(ctx)
    change = app.schedule_change(
        kind, change_type, _row(row), condition, actor_of(actor), data_version
    )
    # The scheduler's automatic signoff is on the test views with the change in them.
    [change] = verify_scheduler_signoffs(app, open_timeline(app), [change])
    if as_json:
        print_json(sc_as_dict(change))
    else:
        click.echo(f"scheduled {kind} change {change.sc_id} ({change_type} {change.target})")
    _warn_failing(app, kind, change.sc_id)


def _warn_failing(app: Any, kind: str, sc_id: int) -> None:
    """Expectations are checked on the test view whenever a change is scheduled or
    modified: those it makes fail are named on stderr (its signoff will be refused)."""
    for line in blamed_summary(app, open_timeline(app).current(), kind, sc_id):
        click.echo(f"warning: expectation failing on the test view: {line}", err=True)


@sc_command(
    "modify",
    click.option("--row", help="Fields to change in the scheduled row, as JSON or @FILE."),
    click.option("--data-version", type=int, help="Rebase onto this data_version of the target."),
    condition_options,
    version=True,
)
def sc_modify(
    call: ScCall,
    sc_data_version: int,
    row: str | None,
    data_version: int | None,
    when: str | None,
    telemetry: tuple[str, str, float] | None,
) -> None:
    """Change a pending change (resets everyone else's signoffs)."""
    change = call.app.modify_scheduled_change(
        call.kind,
        call.sc_id,
        sc_data_version,
        call.user,
        row=_row(row) if row else None,
        condition=_condition(when, telemetry),
        data_version=data_version,
    )
    call.done(
        change, f"modified {call.kind} change {call.sc_id} (sc_data_version {change.data_version})"
    )
    _warn_failing(call.app, call.kind, call.sc_id)


@sc_command(
    "signoff",
    click.option("--role", required=True, help="The role to sign off with (one you hold)."),
    click.option(
        "--override-reason",
        help="Sign off although expectations fail on the test view; recorded with the signoff.",
    ),
)
def sc_signoff(call: ScCall, role: str, override_reason: str | None) -> None:
    """Sign off a pending change."""
    # The signoff records the test views it is given on (see api.verification).
    state = open_timeline(call.app).current()
    change = sign_off_verified(
        call.app, state, call.kind, call.sc_id, role, call.user, override_reason
    )
    call.done(change, f"{call.user} signed off {call.kind} change {call.sc_id} as {role}")


@sc_command("revoke", click.option("--user", "username", help="Whose signoff [default: your own]."))
def sc_revoke(call: ScCall, username: str | None) -> None:
    """Revoke a signoff."""
    change = call.app.revoke_signoff(call.kind, call.sc_id, call.user, username)
    whose = username or call.user
    call.done(change, f"revoked the signoff of {whose} on {call.kind} change {call.sc_id}")


@sc_command("cancel", version=True)
def sc_cancel(call: ScCall, sc_data_version: int) -> None:
    """Cancel a pending change."""
    change = call.app.cancel_scheduled_change(call.kind, call.sc_id, sc_data_version, call.user)
    call.done(change, f"cancelled {call.kind} change {call.sc_id}")


@sc_command("enact")
def sc_enact(call: ScCall) -> None:
    """Enact a fully signed-off change now, whatever its condition."""
    change = call.app.enact_scheduled_change(call.kind, call.sc_id, call.user)
    call.done(change, f"enacted {call.kind} change {call.sc_id}")


def _done(change: ScheduledChange, as_json: bool, message: str) -> None:
    if as_json:
        print_json(sc_as_dict(change))
    else:
        click.echo(message)


@main.command()
@shown_default_option("--interval", click.FloatRange(min=0.1), 30.0, "Seconds between passes.")
@click.option("--once", is_flag=True, help="Run one pass and exit (non-zero if it failed).")
@click.option(
    "--metrics-port",
    type=click.IntRange(0, 65535),
    default=None,
    help="Serve the agent's Prometheus metrics on this port (/metrics).",
)
@writing_context
def agent(
    ctx: click.Context,
    interval: float,
    once: bool,
    metrics_port: int | None,
    as_json: bool,
    actor: str | None,
) -> None:
    """Enact every due, fully signed-off scheduled change; log each decision.

    Without --once it runs until stopped, and a database error never ends it:
    the pass is retried with a backoff (up to RULELOG_AGENT_BACKOFF_MAX seconds).
    """
    from rulelog.api.agent_loop import AgentLoop
    from rulelog.api.metrics import count_appended_events

    def show(report: PassReport) -> None:
        if as_json:
            click.echo(json.dumps({"decisions": dict(report.decisions), "enacted": report.enacted}))
            return
        summary = ", ".join(f"{k}={v}" for k, v in sorted(report.decisions.items()))
        click.echo(f"agent pass: {summary or 'nothing pending'}")

    def make_agent() -> Agent:
        app = app_from(ctx)
        count_appended_events(app)
        return Agent(app, actor_of(actor), settings.fingerprint_policy)

    settings = ctx.find_root().obj["settings"]
    loop = AgentLoop(
        make_agent,
        interval,
        backoff_max=settings.agent_backoff_max,
        on_pass=show,
    )
    if metrics_port is not None:
        from prometheus_client import start_http_server

        start_http_server(metrics_port)
    if once:
        show(loop.run_once())
        return
    try:
        loop.run()
    except KeyboardInterrupt:
        loop.stop.set()
