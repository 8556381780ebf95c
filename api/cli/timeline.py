"""Commands over the timeline: the state at any time, rebuilds, test channels."""

from __future__ import annotations

from typing import Any

import click

from rulelog.api.cli import main
from rulelog.api.cli.catalog import RULE_TABLE, print_table
from rulelog.api.cli.context import (
    actor_of,
    app_from,
    echo_row,
    json_context,
    print_json,
    report,
    writing_context,
)
from rulelog.api.config import open_timeline
from rulelog.projections.at import release_at, rules_at
from rulelog.projections.timeline import Timeline


def timeline_from(ctx: click.Context) -> Timeline:
    root = ctx.find_root()
    if "timeline" not in root.obj:
        root.obj["timeline"] = open_timeline(app_from(ctx))
    return root.obj["timeline"]


@main.group("at")
@click.argument("when", metavar="T")
@click.pass_context
def at(ctx: click.Context, when: str) -> None:
    """The state at T: ISO 8601 UTC, epoch milliseconds, or position:N."""
    ctx.obj["at"] = when


@at.command("rules")
@click.option("--channel", help="Only rules for this channel (a test channel: its derived view).")
@json_context
def at_rules(ctx: click.Context, channel: str | None, as_json: bool) -> None:
    """Rules in force at T."""
    # A channel nothing names is far more likely a typo than a wish for the catch-all rules.
    answer = rules_at(timeline_from(ctx), ctx.find_root().obj["at"], channel, known_only=True)
    if as_json:
        print_json(answer)
        return
    click.echo(f"position {answer['position']} at {answer['time']}")
    if answer.get("answered_by") in ("derived", "hand-kept"):
        click.echo(f"{channel}: {answer['answered_by']} test channel of {answer['live_channel']}")
    print_table(answer["rules"], (*RULE_TABLE, "data_version"))
    for overlay in answer.get("overlays", []):
        click.echo(
            f"overlaid: {overlay['kind']} change {overlay['sc_id']} "
            f"({overlay['change_type']} {overlay['target']})"
        )


@at.command("releases")
@click.argument("name")
@json_context
def at_release(ctx: click.Context, name: str, as_json: bool) -> None:
    """A release, blob included, as it was at T."""
    answer = release_at(app_from(ctx), timeline_from(ctx), ctx.find_root().obj["at"], name)
    echo_row(as_json, answer)


@main.group()
def projections() -> None:
    """The projection tables (position/time index, checkpoints)."""


@projections.command("rebuild")
@json_context
def projections_rebuild(ctx: click.Context, as_json: bool) -> None:
    """Recompute the index, the checkpoints and the listings' rows from the whole log."""
    from rulelog.projections.log import last_position
    from rulelog.services.timelines import rebuild_projections

    timeline = timeline_from(ctx)
    total = last_position(timeline.app)
    stderr = click.get_text_stream("stderr")
    with click.progressbar(length=total, label="rebuilding", file=stderr) as bar:
        position, listed = rebuild_projections(timeline, progress=bar.update)
    report(
        as_json,
        {"position": position, "listings": listed},
        f"rebuilt the timeline up to position {position}",
        *(f"rebuilt the {name} rows up to position {at}" for name, at in listed.items()),
    )


@main.group()
def channels() -> None:
    """Test channels: derived (mapped, or by the -localtest/-cdntest suffix) or hand-kept."""


@channels.command("map")
@click.argument("live")
@click.argument("test")
@writing_context
def channels_map(
    ctx: click.Context, live: str, test: str, as_json: bool, actor: str | None
) -> None:
    """Make TEST a test channel of LIVE."""
    app_from(ctx).map_test_channel(live, test, actor_of(actor))
    report(as_json, {"test": test, "live": live}, f"{test} is a test channel of {live}")


@channels.command("unmap")
@click.argument("test")
@writing_context
def channels_unmap(ctx: click.Context, test: str, as_json: bool, actor: str | None) -> None:
    """Remove TEST's explicit mapping."""
    app_from(ctx).unmap_test_channel(test, actor_of(actor))
    report(as_json, {"test": test, "live": None}, f"{test} is no longer mapped")


@channels.command("derive")
@click.argument("test")
@click.option("--live", help="Its live channel [default: the one its suffix or mapping names].")
@writing_context
def channels_derive(
    ctx: click.Context, test: str, live: str | None, as_json: bool, actor: str | None
) -> None:
    """Derive TEST from its live channel: delete the rules that keep it by hand (as
    ordinary deletions: signoff policies apply) and map it, in one save."""
    from rulelog.projections.channels import derive_channel

    answer = derive_channel(app_from(ctx), timeline_from(ctx), test, actor_of(actor), live)
    if as_json:
        print_json(answer)
        return
    retired = ", ".join(str(i) for i in answer["retired_rules"]) or "none"
    click.echo(f"{test} is derived from {answer['live_channel']} (rules retired: {retired})")


@channels.command("list")
@click.argument("live", required=False)
@click.option("--at", "when", metavar="T", help="ISO 8601 UTC, epoch ms or position:N [now].")
@json_context
def channels_list(ctx: click.Context, live: str | None, when: str | None, as_json: bool) -> None:
    """Every test channel (or LIVE's): its live channel, derived or hand-kept, and the
    rules that keep it hand-kept."""
    from rulelog.projections.channels import list_test_channels

    answer = list_test_channels(timeline_from(ctx), when, live)
    if as_json:
        print_json(answer)
        return
    rows = [
        {
            **row,
            "hand_kept_by": ",".join(str(i) for i in row["hand_kept_by"]) or "-",
            "mapped": "yes" if row["mapped"] else "no",
        }
        for row in answer["test_channels"]
    ]
    print_table(rows, ("channel", "live_channel", "mode", "mapped", "hand_kept_by"))


def _empty(body: str) -> bool:
    """An answer that offers no update: an empty ``<updates>`` or ``{}``."""
    return body.strip() == "{}" or body.replace("\n", "").endswith("<updates></updates>")


@main.command()
@click.argument("url")
@click.option("--at", "when", metavar="T", help="ISO 8601 UTC, epoch ms or position:N [now].")
@click.option(
    "--header",
    "headers",
    multiple=True,
    metavar="NAME:VALUE",
    help="A request header (e.g. User-Agent), repeatable.",
)
@json_context
def explain(
    ctx: click.Context, url: str, when: str | None, headers: tuple[str, ...], as_json: bool
) -> None:
    """What the update request URL got (or would have got at T), and why."""
    from rulelog.projections.explain import explain as explain_request
    from rulelog.projections.explain import parse_headers

    parsed = parse_headers(headers, "--header")
    answer = explain_request(app_from(ctx), timeline_from(ctx), url, when, parsed)
    if as_json:
        print_json(answer)
        return
    response = answer["response"]
    click.echo(
        f"at position {answer['position']} ({answer['time']}), channel "
        f"{answer['channel']}" + _answered_by(answer)
    )
    click.echo(f"status {response['status']}, Rule-ID {response['headers'].get('Rule-ID')}")
    if response.get("problem"):
        click.echo(f"  why no update: {response['problem']}")
    elif not answer["matched_rules"]:
        click.echo("  why no update: no rule matches this request")
    elif _empty(response["body"]):
        release = (answer["release"] or {}).get("name") or "no release"
        click.echo(
            f"  why no update: the chosen rule maps to {release}, which offers this request "
            "nothing (not newer than its version, or no build for its platform and locale)"
        )
    for entry in answer["matched_rules"]:
        origin = entry["put_in_place_by"] or {}
        click.echo(
            f"  rule {entry['rule'].get('rule_id')} (priority {entry['rule'].get('priority')})"
            f": {entry['why']}; last changed at position {origin.get('position')} "
            f"by {origin.get('actor')}"
        )
    if answer["release"]:
        release = answer["release"]
        click.echo(
            f"  release {release['name']} (data_version {release['data_version']}"
            + (", scheduled blob" if release["scheduled"] else "")
            + ")"
        )
    for overlay in answer["overlays"]:
        click.echo(
            f"  overlaid: {overlay['kind']} change {overlay['sc_id']} "
            f"({overlay['change_type']} {overlay['target']})"
        )
    if answer["emergency_shutoff"]:
        click.echo(f"  emergency shutoff: {answer['emergency_shutoff']}")
    click.echo(response["body"])


def _answered_by(answer: dict[str, Any]) -> str:
    if answer["answered_by"] == "derived":
        return f" (test channel of {answer['live_channel']}, derived)"
    if answer["answered_by"] == "hand-kept":
        kept = ", ".join(str(i) for i in answer["hand_kept_by"])
        return f" (test channel of {answer['live_channel']}, hand-kept by rules {kept})"
    return ""
