"""``rulelog expect``: expectations about what update requests must get."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from rulelog.api.cli import main
from rulelog.api.cli.catalog import print_table
from rulelog.api.cli.context import (
    actor_of,
    app_from,
    as_option,
    json_context,
    print_json,
    writing_context,
)
from rulelog.api.cli.timeline import timeline_from
from rulelog.domain.errors import Invalid, NotFound
from rulelog.domain.workflow.expectations import parse_import, parse_yaml_import
from rulelog.projections.expectations import check_state, describe, listed, state_at, summary


@main.group()
def expect() -> None:
    """Expectations: add, list, show, remove, import, check."""


def _expect_of(
    release: str | None,
    at_least: str | None,
    at_most: str | None,
    no_update: bool,
    rule_id: int | None,
) -> dict[str, Any]:
    given = {
        "release": release,
        "version_at_least": at_least,
        "version_at_most": at_most,
        "no_update": True if no_update else None,
        "rule_id": rule_id,
    }
    chosen = {k: v for k, v in given.items() if v is not None}
    if len(chosen) != 1:
        raise Invalid(
            "give exactly one of --release, --version-at-least, --version-at-most,"
            " --no-update, --rule-id"
        )
    return chosen


@expect.command("add")
@click.argument("name")
@click.option("--url", required=True, help="The update request path (/update/6/...).")
@click.option("--release", help="It must get this release.")
@click.option("--version-at-least", "at_least", help="It must get at least this version.")
@click.option("--version-at-most", "at_most", help="It must get at most this version.")
@click.option("--no-update", is_flag=True, help="It must get no update.")
@click.option("--rule-id", type=int, help="It must be answered by this rule.")
@click.option("--reason", help="Why (recorded).")
@click.option("--replace", is_flag=True, help="Change the expectation if it exists.")
@writing_context
def expect_add(ctx: click.Context, name: str, url: str, release: str | None,
               at_least: str | None, at_most: str | None, no_update: bool,
               rule_id: int | None, reason: str | None, replace: bool, as_json: bool,
               actor: str | None) -> None:  # fmt: skip
    """Add (or with --replace, change) an expectation."""
    app = app_from(ctx)
    spec = {"name": name, "url": url, "reason": reason,
            "expect": _expect_of(release, at_least, at_most, no_update, rule_id)}  # fmt: skip
    command = app.change_expectation if replace else app.add_expectation
    made = command(spec, actor_of(actor))
    if as_json:
        print_json({"name": made.name, "data_version": made.version})
    else:
        click.echo(f"{'changed' if replace else 'added'} expectation {made.name}")


def _state(ctx: click.Context, at: str | None) -> Any:
    return state_at(timeline_from(ctx), at)


@expect.command("list")
@click.option("--channel", help="Only this channel's.")
@click.option("--at", "at", metavar="T", help="As they were at T (time or position).")
@json_context
def expect_list(ctx: click.Context, channel: str | None, at: str | None, as_json: bool) -> None:
    """Expectations, by product and channel."""
    rows = listed(_state(ctx, at), channel)
    if as_json:
        print_json(rows)
    else:
        print_table(rows, ("product", "channel", "name", "expect", "url"))


@expect.command("show")
@click.argument("name")
@click.option("--at", "at", metavar="T", help="As it was at T, with how it evaluated then.")
@json_context
def expect_show(ctx: click.Context, name: str, at: str | None, as_json: bool) -> None:
    """One expectation and how it evaluates on live and on the test view."""
    state = _state(ctx, at)
    if name not in state.expectations:
        raise NotFound(f"expectation {name} does not exist")
    [result] = check_state(app_from(ctx), state, names=[name])
    shown = {**state.expectations[name], "result": result}
    if as_json:
        print_json(shown)
        return
    for key in ("name", "product", "channel", "url", "expect", "reason", "changed_by"):
        click.echo(f"{key}: {shown[key]}")
    _echo_result(result)


@expect.command("remove")
@click.argument("name")
@click.option("--reason", help="Why (recorded).")
@as_option
@json_context
def expect_remove(
    ctx: click.Context, name: str, reason: str | None, actor: str | None, as_json: bool
) -> None:
    """Remove an expectation."""
    removed = app_from(ctx).remove_expectation(name, actor_of(actor), reason)
    if as_json:
        print_json({"removed": name, "version": removed.version})
        return
    click.echo(f"removed expectation {name}")


@expect.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@writing_context
def expect_import(ctx: click.Context, file: Path, as_json: bool, actor: str | None) -> None:
    """Add or replace expectations from a JSON Lines or YAML (.yaml, .yml) file, all or none."""
    text = file.read_text(encoding="utf-8")
    specs = parse_yaml_import(text) if file.suffix in (".yaml", ".yml") else parse_import(text)
    app_from(ctx).import_expectations(specs, actor_of(actor))
    if as_json:
        print_json({"imported": len(specs)})
    else:
        click.echo(f"imported {len(specs)} expectations")


def _echo_result(result: dict[str, Any]) -> None:
    for view in ("live", "test"):
        if view in result:
            got = result[view]
            mark = "pass" if got["passed"] else "FAIL"
            blamed = got.get("responsible", [])
            blame = ", ".join(f"{r['kind']} change {r['sc_id']}" for r in blamed)
            click.echo(f"  {view}: {mark}: gets {describe(got)}" + (f" [{blame}]" if blame else ""))


@expect.command("check")
@click.option("--channel", help="Only this channel's expectations.")
@click.option("--at", "at", metavar="T", help="As the expectations and views were at T.")
@click.option("--strict", is_flag=True, help="Exit 1 if any expectation fails.")
@json_context
def expect_check(
    ctx: click.Context, channel: str | None, at: str | None, strict: bool, as_json: bool
) -> None:
    """Evaluate expectations on live and on the test views."""
    results = check_state(app_from(ctx), _state(ctx, at), channel=channel)
    counts = summary(results)
    if as_json:
        print_json({"summary": counts, "results": results})
    else:
        for result in results:
            click.echo(f"{result['name']} ({result['product']}/{result['channel']}):")
            _echo_result(result)
        click.echo(", ".join(f"{k} {v}" for k, v in counts.items()))
    if strict and (counts["failing_live"] or counts["failing_test"]):
        ctx.exit(1)
