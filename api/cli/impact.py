"""``rulelog impact``: what a change would do to the update requests servers sampled."""

from __future__ import annotations

import json
from typing import Any

import click

from rulelog.api.cli import main
from rulelog.api.cli.catalog import print_table
from rulelog.api.cli.context import app_from, json_context, print_json
from rulelog.api.cli.timeline import timeline_from
from rulelog.domain.errors import Invalid
from rulelog.services.impact import ANSWERING_KINDS, proposed_impact, scheduled_impact


def _row(text: str) -> dict[str, Any]:
    try:
        row = json.loads(text)
    except ValueError as exc:
        raise Invalid(f"--row: not JSON ({exc.msg})", field="row") from exc
    if not isinstance(row, dict):
        raise Invalid("--row: must be a JSON object", field="row")
    return row


@main.command("impact")
@click.argument("sc_id", type=int, required=False)
@click.option("--kind", type=click.Choice(ANSWERING_KINDS), default="rules", show_default=True,
              help="The scheduled change's kind (or the proposed row's).")  # fmt: skip
@click.option("--row", help="A change that is not scheduled: its row as JSON (instead of SC_ID).")
@click.option(
    "--change-type",
    type=click.Choice(["insert", "update", "delete"]),
    help="For --row: default update if the row names its rule_id, else insert.",
)
@json_context
def impact(ctx: click.Context, sc_id: int | None, kind: str, row: str | None,
           change_type: str | None, as_json: bool) -> None:  # fmt: skip
    """What a change would do to sampled update requests (RULELOG_IMPACT_SAMPLE_RATE)."""
    if (sc_id is None) == (row is None):
        raise Invalid("give either SC_ID or --row")
    app = app_from(ctx)
    timeline = timeline_from(ctx)
    timeline.catch_up()
    state = timeline.current()
    if row is not None:
        proposal = _row(row)
        kind_of = change_type or ("update" if "rule_id" in proposal else "insert")
        found = proposed_impact(app, state, kind, kind_of, proposal)
    else:
        assert sc_id is not None
        found = scheduled_impact(app, state, kind, sc_id)
    if as_json:
        print_json(found)
        return
    click.echo(
        f"replayed {found['replayed']} sampled requests: {found['moved']} would get a "
        f"different answer ({found['unreadable']} unreadable)"
    )
    if found["moves"]:
        rows = [{**m, "example": (m["examples"] or [""])[0]} for m in found["moves"]]
        print_table(rows, ("from", "to", "requests", "example"))
