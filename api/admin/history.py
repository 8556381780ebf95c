"""Rule revisions and Balrog's history listings (``history_all``), from the log.

``/rules/{rule_id}/revisions`` lists a rule's stored states and reverts to
one (a normal update: permissions, signoffs and scheduled-change merges
apply). ``/rules/history``, ``/permissions/history`` and
``/required_signoffs/{product,permissions}/history`` list a whole history
table, and its scheduled changes' history beside it, filtered and paged as
Balrog does: every query parameter that is not a reserved one is an
equality filter on a column, ``timestamp_from``/``timestamp_to`` bound the
time (milliseconds), and rows without a ``data_version`` (deletions) never
show. Where Balrog's listing would fail (a ``role`` filter on the scheduled
changes' part) the filter applies to the column of that name.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from fastapi import APIRouter, Body, Depends, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, create_model

import rulelog.api.url_ids  # noqa: F401 (registers the {name:id} path convertor)
from rulelog.api.admin.deps import Actor, Reader, Service
from rulelog.api.admin.html_answers import html
from rulelog.api.admin.problems import Problem
from rulelog.api.admin.reading import ReadModel
from rulelog.api.admin.rules import PROBLEMS, balrog_refusals, int_query, strict_query
from rulelog.api.admin.scheduled_rows import revision_row
from rulelog.domain.catalog.rule_fields import RULE_COLUMNS
from rulelog.projections.change_ids import sc_table

router = APIRouter(tags=["history"])

#: Query parameters that are not column filters.
RESERVED = ("limit", "product", "channel", "page", "timestamp_from", "timestamp_to")
#: Columns a revert does not restore (Balrog's revert leaves these as they are).
NOT_REVERTED = ("jaws", "mig64")
Row = dict[str, Any]


class Revisions(BaseModel):
    model_config = ConfigDict(extra="allow")
    count: int
    revisions: list[dict[str, Any]] = Field(default_factory=list)


class RuleRevisionsOut(BaseModel):
    count: int
    rules: list[dict[str, Any]] = Field(default_factory=list)


class ChangeIdIn(BaseModel):
    change_id: int = Field(..., ge=0, description="the revision to revert to")


class SignoffRevisions(BaseModel):
    count: int
    required_signoffs: list[dict[str, Any]] = Field(default_factory=list)


def _history_model(
    name: str, field: str, table: str, rows: type[BaseModel] = Revisions, scheduled: str = ""
) -> type[BaseModel]:
    """A history listing: a table's revisions under Balrog's title for it (``field``
    in Python), and its scheduled changes' under ``<table> Scheduled Change``."""
    return create_model(  # type: ignore[call-overload, no-any-return]
        name,
        __config__=ConfigDict(populate_by_name=True),
        **{field: (rows, Field(alias=table))},
        scheduled=(Revisions, Field(alias=scheduled or f"{table} Scheduled Change")),
    )


# Balrog spells the rules' scheduled part differently.
RulesHistory = _history_model("RulesHistory", "rules", "Rules", scheduled="Rules scheduled change")
PermissionsHistory = _history_model("PermissionsHistory", "permissions", "Permissions")
ProductSignoffsHistory = _history_model(
    "ProductSignoffsHistory", "policies", "Product Required Signoffs", SignoffRevisions
)
PermissionsSignoffsHistory = _history_model(
    "PermissionsSignoffsHistory", "policies", "Permissions Required Signoffs", SignoffRevisions
)


# ------------------------------------------------------------- filtering


def newest_first(rows: Iterable[Row]) -> list[Row]:
    return sorted(rows, key=lambda r: (r["timestamp"], r["change_id"]), reverse=True)


def page_of(request: Request, rows: list[Row], default_limit: int) -> list[Row]:
    """Balrog's paging: ``page`` (from 1) of ``limit`` rows."""
    page = int_query(request, "page", minimum=1) or 1
    limit = int_query(request, "limit", minimum=1) or default_limit
    start = limit * (page - 1)
    return rows[start : start + limit]


def column_filters(request: Request, columns: dict[str, str]) -> dict[str, str]:
    """Non-reserved query parameters, each as (row column -> wanted text)."""
    wanted: dict[str, str] = {}
    for name, value in request.query_params.items():
        if name not in RESERVED:
            wanted[columns.get(name, name)] = value
    return wanted


def filtered(
    request: Request,
    rows: Iterable[Row],
    *,
    columns: dict[str, str] | None = None,
    version_column: str = "data_version",
    product: bool = False,
    channel: bool = False,
    product_not_null: bool = False,
    channel_not_null: bool = False,
) -> list[Row]:
    """The rows Balrog's history filters keep, newest first."""
    wanted = column_filters(request, columns or {})
    low = int_query(request, "timestamp_from")
    high = int_query(request, "timestamp_to")
    by_product = request.query_params.get("product") if product else None
    by_channel = request.query_params.get("channel") if channel else None
    kept = []
    for row in rows:
        if row.get(version_column) is None:
            continue
        if any(str(row.get(k)) != v for k, v in wanted.items()):
            continue
        if (product_not_null and row.get("product") is None) or (
            channel_not_null and row.get("channel") is None
        ):
            continue
        if (by_product and row.get("product") != by_product) or (
            by_channel and row.get("channel") != by_channel
        ):
            continue
        if (low is not None and row["timestamp"] < low) or (
            high is not None and row["timestamp"] > high
        ):
            continue
        kept.append(row)
    return newest_first(kept)


def listing(request: Request, rows: list[Row], default_limit: int, key: str) -> Row:
    return {key: page_of(request, rows, default_limit), "count": len(rows)}


def sc_history(request: Request, model: ReadModel, kind: str) -> Row:
    """Every revision of every scheduled change of ``kind``, as Balrog lists them."""
    rows = [
        revision_row(revision)
        for (sc_kind, sc_id) in list(model.catalog.scheduled)
        if sc_kind == kind
        for revision in model.sc_revisions.of(sc_kind, sc_id)
    ]
    rows = model.change_ids.rows(sc_table(kind), rows)
    renamed = {"data_version": "sc_data_version"}
    chosen = filtered(request, rows, columns=renamed, version_column="sc_data_version")
    return listing(request, chosen, 10, "revisions")


HISTORY_QUERY = ("product", "limit", "page", "changed_by", "change_id", "data_version")
TIME_QUERY = ("timestamp_from", "timestamp_to")


# ---------------------------------------------------------------- routes


def _history_route(
    path: str, model: type[BaseModel], *filters: str, refusals: tuple[int, ...] = ()
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``GET`` of a history listing: the common query parameters and the table's own
    ``filters``; 400 for any other, and the ``refusals`` the route may also answer."""
    return router.get(
        path,
        response_model=model,
        responses={code: PROBLEMS[code] for code in (400, *refusals)},
        dependencies=[Depends(strict_query(*HISTORY_QUERY, *TIME_QUERY, *filters))],
    )


@_history_route("/rules/history", RulesHistory, "channel")
def rules_history(request: Request, reader: Reader) -> Any:
    """Every stored state of every rule, and of every rule's scheduled change."""
    with reader.current() as model:
        rows = filtered(
            request,
            model.change_ids.rows("rules", model.history.rules),
            product=True,
            channel=True,
            product_not_null=True,
            channel_not_null=True,
        )
        scheduled = sc_history(request, model, "rules")
    body = {"Rules": listing(request, rows, 10, "revisions"), "Rules scheduled change": scheduled}
    return JSONResponse(body)


@_history_route("/permissions/history", PermissionsHistory, refusals=(401, 403))
def permissions_history(request: Request, reader: Reader) -> Any:
    """Every state of every permission grant, and of every scheduled permission change:
    ``permission``/``view`` only, as Balrog (``api.admin.access``)."""
    with reader.current() as model:
        # A grant without options is ``null`` in Balrog's history, as in its listings.
        rows = [
            dict(r, options=r.get("options") or None)
            for r in filtered(
                request, model.change_ids.rows("permissions", model.history.permissions)
            )
        ]
        scheduled = sc_history(request, model, "permissions")
    body = {
        "Permissions": listing(request, rows, 10, "revisions"),
        "Permissions Scheduled Change": scheduled,
    }
    return JSONResponse(body)


def _policy_history(request: Request, reader: Any, kind: str, title: str) -> JSONResponse:
    with reader.current() as model:
        rows = filtered(
            request,
            model.change_ids.rows(f"{kind}_req_signoffs", model.history.policies[kind]),
            product=True,
            channel=kind == "product",
            product_not_null=True,
        )
        scheduled = sc_history(request, model, f"required_signoffs/{kind}")
    body = {
        f"{title} Required Signoffs": listing(request, rows, 100, "required_signoffs"),
        f"{title} Required Signoffs Scheduled Change": scheduled,
    }
    return JSONResponse(body)


@_history_route("/required_signoffs/product/history", ProductSignoffsHistory, "channel", "role")
def product_signoffs_history(request: Request, reader: Reader) -> Any:
    """Every state of every product signoff policy, and of their scheduled changes."""
    return _policy_history(request, reader, "product", "Product")


@_history_route("/required_signoffs/permissions/history", PermissionsSignoffsHistory, "role")
def permissions_signoffs_history(request: Request, reader: Reader) -> Any:
    """Every state of every permissions signoff policy, and of their scheduled changes."""
    return _policy_history(request, reader, "permissions", "Permissions")


@router.get(
    "/rules/{rule_id:id}/revisions",
    response_model=RuleRevisionsOut,
    responses={400: PROBLEMS[400], 404: {"description": "no such rule (plain text)"}},
    dependencies=[Depends(strict_query("page", "limit"))],
)
def rule_revisions(rule_id: int, request: Request, reader: Reader) -> Any:
    """A live rule's stored states, newest first, paged (``page``, ``limit``)."""
    page_of(request, [], 10)  # Balrog checks the paging parameters before the rule
    with reader.current() as model:
        exists = rule_id in model.catalog.rules
        revisions = model.rule_revisions.of(rule_id) if exists else []
        revisions = model.change_ids.rows("rules", revisions)
    if not exists:
        return html("Requested rule does not exist", 404)
    rows = page_of(request, revisions, 10)
    return JSONResponse({"rules": rows, "count": len(revisions)})


def _change_id(body: Any) -> int:
    """The body's ``change_id``, checked as Balrog's schema and handler check it."""
    if body is None:
        raise Problem(400, "No change_id passed in the request body")
    if not isinstance(body, dict):
        raise Problem(400, f"{body!r} is not of type 'object'")
    if "change_id" not in body:
        raise Problem(400, "'change_id' is a required property")
    change_id = body["change_id"]
    if not isinstance(change_id, int) or isinstance(change_id, bool):
        raise Problem(400, f"change_id: {change_id!r} is not of type 'integer'")
    if change_id < 0:
        raise Problem(400, f"change_id: {change_id!r} is less than the minimum of 0")
    return change_id


@router.post(
    "/rules/{rule_id:id}/revisions",
    response_class=Response,
    responses={200: {"description": "reverted ('Excellent!')"}, **PROBLEMS},
    dependencies=[Depends(strict_query())],
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": ChangeIdIn.model_json_schema()}},
        }
    },
)
def revert_rule(
    rule_id: int, service: Service, reader: Reader, changed_by: Actor, body: Any = Body(None)
) -> Response:
    """Make the rule what it was at revision ``change_id`` (an update, checked as one)."""
    change_id = _change_id(body)  # the schema's checks come before any lookup
    with reader.current() as model:
        current = model.catalog.rules.get(rule_id)
        if current is None:
            raise Problem(404, "bad rule_id")
        if not change_id:
            raise Problem(400, "No change_id passed in the request body")
        position = model.change_ids.position("rules", change_id)
        change = next((r for r in model.history.rules if r["change_id"] == position), None)
        data_version = current["data_version"]
    if change is None or change["data_version"] is None:
        raise Problem(400, f"Invalid change_id : {change_id} passed in the request body")
    if change["rule_id"] != rule_id:
        raise Problem(400, "Bad rule_id passed in the request")
    fields = {c: change[c] for c in RULE_COLUMNS if c not in NOT_REVERTED}
    with balrog_refusals("POST"):
        service.update_rule(rule_id, data_version, fields, changed_by)
    return html("Excellent!")
