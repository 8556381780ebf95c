"""``/ui/rules``: Balrog's rules table, one rule with its revisions, and editing.

The table is sorted as Balrog's UI sorts it (priority, highest first; then
rule id), each rule followed by its pending scheduled changes: what they
change, when (or at what uptake), and the signoffs required and given.

An edit is a direct change (``update_rule``) where no signoff policy covers
it, otherwise a scheduled change (``schedule_change``) whose required
signoffs the form names before it is sent. Reverting loads an old revision
into the same form, so it goes through the same checks.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import Response
from markupsafe import Markup, escape

from rulelog.api.console.caller import may, signed_in, who
from rulelog.api.console.moment import Moment, default_when, moment_of, state_of
from rulelog.api.console.render import page, redirect
from rulelog.api.console.session import ConsoleRefusal, FormData, data_version_of
from rulelog.domain.catalog.rules import MAPPING_COLUMNS, RULE_COLUMNS
from rulelog.domain.workflow.signoff_rules import reduce_requirements, required_for_rules
from rulelog.projections.state import Catalog

router = APIRouter()

#: Columns the table shows (Balrog's UI shows these; the rest are on the rule's page).
TABLE_COLUMNS = (
    "rule_id", "alias", "priority", "product", "channel", "version", "buildTarget", "locale",
    "osVersion", "mapping", "fallbackMapping", "backgroundRate", "update_type", "comment",
)  # fmt: skip
INT_COLUMNS = frozenset({"priority", "backgroundRate"})


def pending_by_rule(state: Catalog) -> dict[str, list[dict[str, Any]]]:
    """Pending rule changes by the rule they change ("new:N" for an insert)."""
    found: dict[str, list[dict[str, Any]]] = {}
    for sc in state.pending():
        if sc["kind"] == "rules":
            found.setdefault(str(sc["target"]), []).append(sc)
    return found


def changed_fields(state: Catalog, sc: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    """What a pending rule change changes: column -> (now, after)."""
    old = state.rules.get(int(sc["target"])) if str(sc["target"]).isdigit() else None
    new = sc.get("row") or {}
    columns = RULE_COLUMNS if sc["change_type"] != "delete" else ()
    return {
        c: ((old or {}).get(c), new.get(c))
        for c in columns
        if (old or {}).get(c) != new.get(c) and c != "data_version"
    }


def requirements(state: Catalog, *rows: dict[str, Any] | None) -> list[Any]:
    """The signoffs a change to these rows would need, as the policies at ``state`` say."""
    reqs = required_for_rules(list(rows), state.policies["product"].values())
    return reduce_requirements(reqs)


def table_cells(rule: dict[str, Any], suffix: str) -> Markup:
    """One table row's cells (``suffix``: the moment's query), built here rather than in
    the template: the table has a thousand rows of fourteen cells, and plain string
    building is what keeps the page fast (Jinja, or ``Markup.format``, takes ten times
    as long)."""
    cells = []
    for column in TABLE_COLUMNS:
        value = rule.get(column)
        if value is None:
            shown: Any = ""
        elif column == "rule_id":
            shown = f'<a href="/ui/rules/{value}{suffix}">{value}</a>'
        elif column in MAPPING_COLUMNS:
            target = escape(quote(str(value), safe=""))
            shown = f'<a href="/ui/releases/{target}{suffix}">{escape(value)}</a>'
        else:
            shown = escape(value)
        cells.append(f'<td data-column="{column}">{shown}</td>')
    return Markup("".join(cells))


def _choices(state: Catalog, column: str) -> list[str]:
    return sorted({str(r[column]) for r in state.rules.values() if r.get(column)})


@router.get("/rules", summary="The rules table")
def rules_page(request: Request, product: str | None = None, channel: str | None = None) -> Any:
    moment = moment_of(request)
    who(request)
    with state_of(request, moment) as state:
        rows = [
            r
            for r in state.sorted_rules()
            if (not product or r.get("product") == product)
            and (not channel or r.get("channel") == channel)
        ]
        pending = pending_by_rule(state)
        return page(
            request,
            "rules.html",
            moment=moment,
            rules=[(rule, table_cells(rule, escape(moment.query))) for rule in rows],
            columns=TABLE_COLUMNS,
            pending=pending,
            changes={sc["sc_id"]: changed_fields(state, sc) for v in pending.values() for sc in v},
            new_rules=[sc for key, scs in pending.items() if key.startswith("new:") for sc in scs],
            products=_choices(state, "product"),
            channels=_choices(state, "channel"),
            product=product or "",
            channel=channel or "",
        )


def _revisions(request: Request, rule_id: int, moment: Moment) -> list[dict[str, Any]]:
    with request.app.state.reader.current() as model:
        rows = model.rule_revisions.of(rule_id)
    return [r for r in rows if r["change_id"] <= moment.position]


@router.get("/rules/new", summary="A new rule (or a copy of one)")
def new_rule_page(request: Request, copy: int | None = None) -> Any:
    moment = moment_of(request)
    who(request)
    if not moment.live:
        raise ConsoleRefusal(400, "A rule can be added now only, not in the past.")
    with state_of(request, moment) as state:
        form: dict[str, Any] = dict(state.rules.get(copy) or {}) if copy is not None else {}
        form.pop("alias", None)  # an alias names one rule
        return page(
            request,
            "rule_new.html",
            moment=moment,
            form=form,
            copy=copy,
            columns=RULE_COLUMNS,
            required=requirements(state, form) if form else [],
            may_edit=may(request, "rule.create", form.get("product")),
            when=default_when(request),
        )


@router.get("/rules/{rule_id}", summary="One rule, its pending changes and revisions")
def rule_page(request: Request, rule_id: int, revision: int | None = None) -> Any:
    moment = moment_of(request)
    who(request)
    revisions = _revisions(request, rule_id, moment)
    with state_of(request, moment) as state:
        rule = state.rules.get(rule_id)
        if rule is None:
            raise ConsoleRefusal(404, f"Rule {rule_id} does not exist {moment.where}.")
        form = dict(rule)
        if revision is not None:
            chosen = [r for r in revisions if r["change_id"] == revision]
            if not chosen:
                raise ConsoleRefusal(404, f"Rule {rule_id} has no revision {revision}.")
            form.update({c: chosen[0].get(c) for c in RULE_COLUMNS})
        pending = pending_by_rule(state).get(str(rule_id), [])
        return page(
            request,
            "rule.html",
            moment=moment,
            rule=rule,
            form=form,
            reverting=revision,
            columns=RULE_COLUMNS,
            pending=pending,
            changes={sc["sc_id"]: changed_fields(state, sc) for sc in pending},
            required=requirements(state, rule),
            revisions=revisions,
            may_edit=moment.live and may(request, "rule.modify", rule.get("product")),
            may_delete=moment.live and may(request, "rule.delete", rule.get("product")),
            when=default_when(request),
        )


def rule_fields(form: dict[str, str]) -> dict[str, Any]:
    """The rule columns of a posted form, typed as the admin API takes them."""
    fields: dict[str, Any] = {}
    for column in RULE_COLUMNS:
        if column not in form:
            continue
        value = form[column].strip()
        if column in INT_COLUMNS:
            try:
                fields[column] = int(value) if value else None
            except ValueError:
                raise ConsoleRefusal(400, f"{column}: must be a whole number") from None
        else:
            fields[column] = value or None
    return fields


def condition_of(form: dict[str, str]) -> dict[str, Any]:
    """When a scheduled rule change is due: at ``when``, or once the reported uptake of
    a product's channel reaches ``telemetry_uptake`` percent (if that is filled in)."""
    uptake = form.get("telemetry_uptake", "").strip()
    if not uptake:
        return {"when": form.get("when", "").strip()}
    try:
        percent = float(uptake)
    except ValueError:
        raise ConsoleRefusal(400, "telemetry_uptake: must be a number") from None
    return {
        "telemetry_product": form.get("telemetry_product", "").strip(),
        "telemetry_channel": form.get("telemetry_channel", "").strip(),
        "telemetry_uptake": percent,
    }


def _write(request: Request, change_type: str, rule_id: int | None, form: dict[str, str]) -> Any:
    """One rule change from a form: direct (the service's create/update/delete), or
    scheduled (``schedule_change``) when the form asks for it. Returns the rule or the
    scheduled change; every check is the command's."""
    user = signed_in(request)
    service = request.app.state.service
    fields = rule_fields(form) if change_type != "delete" else {}
    data_version = data_version_of(form) if change_type != "insert" else None
    if form.get("mode") == "schedule":
        row = {**fields, "rule_id": rule_id} if rule_id is not None else fields
        return service.schedule_change(
            "rules", change_type, row, condition_of(form), user, data_version
        )
    if change_type == "insert":
        return service.create_rule(fields, user)
    if change_type == "delete":
        return service.delete_rule(rule_id, data_version, user)
    return service.update_rule(rule_id, data_version, fields, user)


def _after(request: Request, done: Any, rule_id: int | None) -> Response:
    """The page that shows what was done: the rule, with a notice."""
    sc_id = getattr(done, "sc_id", None)
    if sc_id is not None:
        return redirect(request, f"/ui/rules/{rule_id}?scheduled={sc_id}" if rule_id else
                        f"/ui/scheduled#sc-rules-{sc_id}")  # fmt: skip
    return redirect(request, f"/ui/rules/{done.rule_id}?saved=1")


@router.post("/rules", summary="Add a rule, directly or scheduled")
def add_rule(request: Request, form: FormData) -> Response:
    return _after(request, _write(request, "insert", None, form), None)


@router.post("/rules/{rule_id}", summary="Change a rule, directly or scheduled")
def edit_rule(request: Request, rule_id: int, form: FormData) -> Response:
    return _after(request, _write(request, "update", rule_id, form), rule_id)


@router.post("/rules/{rule_id}/delete", summary="Delete a rule, directly or scheduled")
def delete_rule(request: Request, rule_id: int, form: FormData) -> Response:
    done = _write(request, "delete", rule_id, form)
    if getattr(done, "sc_id", None) is not None:
        return _after(request, done, rule_id)
    return redirect(request, "/ui/rules")
