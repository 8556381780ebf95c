"""``/api/rules``: list, create, read, update and delete rules, as Balrog does.

Handlers make Balrog's checks in Balrog's order, with its texts -- the body
against its schema (``rules_schemas``), the rule's existence, the mapping
naming a release, the alias being free -- then hand the change to the
domain, which checks permissions, signoffs, data_version and scheduled
changes. Balrog never has signoffs on a direct edit, so a change that needs
them is always its "No Signoffs given".
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from fastapi import APIRouter, Body, Depends, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel

from rulelog.api.admin.deps import Actor, Reader, Service
from rulelog.api.admin.html_answers import html
from rulelog.api.admin.params import below_minimum
from rulelog.api.admin.problems import Problem
from rulelog.api.admin.rules_schemas import (
    ColumnValues,
    RuleIn,
    RuleList,
    RuleOut,
    RuleUpdateIn,
    checked_body,
    cleaned,
    request_body,
)
from rulelog.api.admin.schemas import NewDataVersion, ProblemDoc
from rulelog.domain.bounds import id_from
from rulelog.domain.catalog.rule_fields import RULE_FIELDS
from rulelog.domain.errors import Conflict, NotFound, SignoffRequired
from rulelog.projections.revisions import balrog_rule

router = APIRouter(tags=["rules"])

NOT_FOUND = "Requested rule wasn't found"
NOT_FOUND_EXCEPTION = "Requested rule does not exist"
PROBLEMS: dict[int | str, dict[str, Any]] = {
    400: {"model": ProblemDoc, "description": "invalid input, or refused (problem document)"},
    401: {"model": ProblemDoc, "description": "no valid token"},
    403: {"model": ProblemDoc, "description": "not permitted"},
    404: {"model": ProblemDoc, "description": "no such rule"},
}


# --------------------------------------------------------------- helpers


def strict_query(*allowed: str) -> Callable[[Request], Awaitable[None]]:
    """Balrog's strict validation: a query parameter its spec does not name is a 400."""

    async def check(request: Request) -> None:  # async: no I/O, so no thread hop
        extra = sorted(set(request.query_params) - set(allowed))
        if extra:
            refusal = Problem(400, f"Extra query parameter(s) {', '.join(extra)} not in spec")
            refusal.title = None  # type: ignore[assignment]  # Balrog's has a null title
            raise refusal

    return check


def int_query(request: Request, name: str, *, required: bool = False, minimum: int = 0) -> Any:
    """An integer query parameter, refused with the texts Balrog's validator uses."""
    raw = request.query_params.get(name)
    if raw is None:
        if required:
            raise Problem(400, f"Missing query parameter '{name}'")
        return None
    try:
        value = int(raw)
    except ValueError:
        raise Problem(400, f"Wrong type, expected 'integer' for query parameter '{name}'") from None
    if value < minimum:
        detail = below_minimum("query", name, value)
        raise Problem(400, detail or f"{value} is less than the minimum of {minimum}")
    return value


def rule_key(id_or_alias: str) -> int | str:
    key = id_from(id_or_alias)  # too many digits for an id: looked up (in vain) as an alias
    return key if key is not None else id_or_alias


def find_rule(rules: dict[int, dict[str, Any]], id_or_alias: str) -> dict[str, Any] | None:
    """Balrog's ``getRule``: an alias if it looks like one, else an id."""
    key = rule_key(id_or_alias)
    if isinstance(key, int):
        return rules.get(key)
    return next((r for r in rules.values() if r.get("alias") == key), None)


def ordered(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Balrog's listing order: priority, version, mapping, ascending, nulls first."""

    def key(row: dict[str, Any]) -> tuple[Any, ...]:
        priority, version, mapping = (row.get(c) for c in ("priority", "version", "mapping"))
        return (
            (priority is not None, priority or 0),
            (version is not None, version or ""),
            (mapping is not None, mapping or ""),
            row["rule_id"],
        )

    return sorted(rows, key=key)


@contextmanager
def balrog_refusals(method: str) -> Iterator[None]:
    """Domain refusals a direct rule edit gets, in Balrog's words."""
    try:
        yield
    except SignoffRequired:
        raise Problem(400, "Signoff Required", exception="No Signoffs given") from None
    except NotFound:
        raise Problem(404, NOT_FOUND, exception=NOT_FOUND_EXCEPTION) from None
    except Conflict as error:
        if error.context.get("reason") != "scheduled":
            raise
        exception = (
            f"Couldn't perform the request {method} due a conflict with a scheduled change. "
            "Cannot delete rows that have changes scheduled."
        )
        raise Problem(400, "ChangeScheduledError", exception=exception) from None


def check_mappings(what: dict[str, Any], releases: Any, *, creating: bool) -> None:
    """``mapping`` (required on create, never null) and ``fallbackMapping`` name releases."""
    if (creating or "mapping" in what) and what.get("mapping") is None:
        raise Problem(400, "mapping value cannot be set to null/empty")
    if what.get("mapping") is not None and what["mapping"] not in releases:
        raise Problem(400, "Invalid mapping value. No release name found in DB")
    if what.get("fallbackMapping") is not None and what["fallbackMapping"] not in releases:
        raise Problem(400, "Invalid fallbackMapping value. No release name found in DB")


# ---------------------------------------------------------------- routes


@router.get(
    "/rules",
    response_model=RuleList,
    responses={400: PROBLEMS[400]},
    dependencies=[Depends(strict_query("product", "timestamp"))],
)
def list_rules(request: Request, reader: Reader) -> Any:
    """Every rule, or a product's, or (``timestamp``, ms) those live at that time."""
    product = request.query_params.get("product")
    timestamp = int_query(request, "timestamp", minimum=-(2**63))  # Balrog bounds it not
    if timestamp is not None and product:
        raise Problem(
            400,
            "Cannot query with a timestamp and a product at the same time",
            by_connexion=True,
        )
    with reader.current() as model:
        if timestamp is not None:
            latest: dict[int, dict[str, Any]] = {}
            for row in model.change_ids.rows("rules", model.history.rules):
                if row["timestamp"] <= timestamp:
                    latest[row["rule_id"]] = row
            # Balrog's point-in-time query has no ORDER BY: rows come in change order.
            live = [r for r in latest.values() if r["data_version"] is not None]
            rows = [dict(r) for r in sorted(live, key=lambda r: r["change_id"])]
        else:
            rows = ordered([balrog_rule(r) for r in model.catalog.rules.values()])
    if timestamp is None and product:
        rows = [r for r in rows if r["product"] == product]
    return JSONResponse({"count": len(rows), "rules": rows})


@router.post(
    "/rules",
    response_class=Response,
    responses={
        200: {"description": "the new rule_id, as text"},
        **{k: v for k, v in PROBLEMS.items() if k != 404},
    },
    dependencies=[Depends(strict_query())],
    openapi_extra=request_body(RuleIn),
)
def create_rule(
    service: Service, reader: Reader, changed_by: Actor, body: Any = Body(None)
) -> Response:
    """A new rule; answers its id as text, as Balrog does."""
    given = checked_body(body, update=False)
    what = {k: cleaned(v) for k, v in given.items()}
    with reader.current() as model:
        check_mappings(what, model.catalog.releases, creating=True)
        alias = what.get("alias")
        if alias is not None and find_rule(model.catalog.rules, alias) is not None:
            raise Problem(400, "Rule with alias exists.")
    if "rule_id" in given:
        raise Problem(
            400,
            "Unknown error",
            exception="Cannot set autoincrement primary key 'rule_id' on insert",
        )
    fields = {k: v for k, v in given.items() if k != "data_version"}
    with balrog_refusals("POST"):
        rule = service.create_rule(fields, changed_by)
    return html(str(rule.rule_id))


def _lookup_route(
    path: str, model: type[BaseModel]
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``GET`` of one thing the path names: no query parameters; 404 when there is none."""
    return router.get(
        path,
        response_model=model,
        responses={404: PROBLEMS[404]},
        dependencies=[Depends(strict_query())],
    )


@_lookup_route("/rules/columns/{column}", ColumnValues)
def rule_column(column: str, reader: Reader) -> Any:
    """The distinct non-null values of one rule column."""
    if column not in (*RULE_FIELDS, "data_version"):
        raise Problem(404, "Rule column was not found", exception="Requested column does not exist")
    with reader.current() as model:
        values = [r.get(column) for r in ordered(list(model.catalog.rules.values()))]
    distinct = balrog_distinct(v for v in values if v is not None)
    return JSONResponse({"count": len(distinct), column: distinct})


def balrog_distinct(values: Iterable[Any]) -> list[Any]:
    """Distinct values in the order of Balrog's ``list(set(...))``.

    For numbers and booleans that order is Python's and reproducible, so it is
    kept exactly; text hashes differently in every Balrog process, so text
    values keep their first-seen order instead (stable for clients and tests).
    """
    values = list(values)
    if all(isinstance(v, (int, float)) for v in values):
        return list(set(values))
    return list(dict.fromkeys(values))


@_lookup_route("/rules/{id_or_alias}", RuleOut)
def get_rule(id_or_alias: str, reader: Reader) -> Any:
    """One rule by id or alias, its data_version also in ``X-Data-Version``."""
    with reader.current() as model:
        found = find_rule(model.catalog.rules, id_or_alias)
        row = balrog_rule(found) if found is not None else None
    if row is None:
        raise Problem(404, NOT_FOUND, exception=NOT_FOUND_EXCEPTION, by_connexion=True)
    return JSONResponse(row, headers={"X-Data-Version": str(row["data_version"])})


def _update(
    service: Any, reader: Any, id_or_alias: str, body: Any, changed_by: str, method: str
) -> JSONResponse:
    given = checked_body(body, update=True)
    what = {k: cleaned(v) for k, v in given.items()}
    if what.get("data_version") is None or {"mapping", "fallbackMapping"} & set(what):
        # Checks that need the catalogue, in Balrog's order (a missing rule first).
        # A plain edit skips them: the command itself answers a missing rule (404).
        with reader.current() as model:
            if find_rule(model.catalog.rules, id_or_alias) is None:
                raise Problem(404, NOT_FOUND, exception=NOT_FOUND_EXCEPTION)
            check_mappings(what, model.catalog.releases, creating=False)
    if what.get("data_version") is None:
        raise Problem(
            400,
            "Unknown error",
            exception="update: old_data_version must be passed for Tables that are versioned",
        )
    data_version = int(given["data_version"])
    fields = {k: v for k, v in given.items() if k not in ("data_version", "rule_id")}
    with balrog_refusals(method):
        rule = service.update_rule(rule_key(id_or_alias), data_version, fields, changed_by)
    return JSONResponse({"new_data_version": rule.data_version})


def _add_update_route(method: str, doc: str) -> None:
    """``PUT`` and ``POST /rules/{id_or_alias}``: Balrog serves the same update on both."""

    def update(
        id_or_alias: str,
        service: Service,
        reader: Reader,
        changed_by: Actor,
        body: Any = Body(None),
    ) -> Any:
        return _update(service, reader, id_or_alias, body, changed_by, method)

    update.__name__ = update.__qualname__ = f"{method.lower()}_rule"  # the operation's id
    update.__doc__ = doc
    router.add_api_route(
        "/rules/{id_or_alias}",
        update,
        methods=[method],
        response_model=NewDataVersion,
        responses=PROBLEMS,
        dependencies=[Depends(strict_query())],
        openapi_extra=request_body(RuleUpdateIn),
    )


_add_update_route("PUT", "Change some fields of a rule read at ``data_version``.")
_add_update_route("POST", "The same as PUT (Balrog serves both).")


@router.delete(
    "/rules/{id_or_alias}",
    response_class=Response,
    responses={200: {"description": "deleted (empty body)"}, **PROBLEMS},
    dependencies=[Depends(strict_query("data_version"))],
)
def delete_rule(
    id_or_alias: str, request: Request, service: Service, reader: Reader, changed_by: Actor
) -> Response:
    """Delete a rule (by id or alias) read at ``?data_version=``."""
    data_version = int_query(request, "data_version", required=True, minimum=1)
    with reader.current() as model:
        if find_rule(model.catalog.rules, id_or_alias) is None:
            raise Problem(404, NOT_FOUND, exception=NOT_FOUND_EXCEPTION)
    with balrog_refusals("DELETE"):
        service.delete_rule(rule_key(id_or_alias), data_version, changed_by)
    return html()
