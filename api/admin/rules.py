"""``/api/rules``: list, create, read, update and delete rules, as Balrog does.

Bodies are Balrog's rule objects; the domain validates them (its
``admin_api`` rules: what Balrog's admin API accepts), so this module only
translates HTTP to commands and rows to Balrog's JSON.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Query
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from api.admin.deps import Actor, Reader, Service
from api.admin.problems import Problem
from api.admin.schemas import NewDataVersion, ProblemDoc, RuleBody, RuleList, RuleOut
from projections.revisions import balrog_rule

router = APIRouter(tags=["rules"])

RULE_NOT_FOUND = "Requested rule does not exist"


def _rule_row(reader: Any, id_or_alias: str) -> dict[str, Any] | None:
    with reader.current() as model:
        rules = model.catalog.rules
        if id_or_alias.isdigit():
            row = rules.get(int(id_or_alias))
        else:
            row = next((r for r in rules.values() if r.get("alias") == id_or_alias), None)
        return balrog_rule(row) if row is not None else None


@router.get("/rules", response_model=RuleList)
def list_rules(reader: Reader, product: str | None = Query(None)) -> Any:
    with reader.current() as model:
        rows = [balrog_rule(r) for r in model.catalog.sorted_rules()]
    if product is not None:
        rows = [r for r in rows if r["product"] == product]
    return JSONResponse({"count": len(rows), "rules": rows})


@router.post(
    "/rules",
    response_class=PlainTextResponse,
    responses={200: {"description": "the new rule_id"}, 400: {"model": ProblemDoc}},
)
def create_rule(service: Service, changed_by: Actor, body: RuleBody = Body(...)) -> Response:
    rule = service.create_rule(body.fields(), changed_by)
    return PlainTextResponse(str(rule.rule_id))


@router.get(
    "/rules/{id_or_alias}", response_model=RuleOut, responses={404: {"model": ProblemDoc}}
)
def get_rule(id_or_alias: str, reader: Reader) -> Any:
    row = _rule_row(reader, id_or_alias)
    if row is None:
        raise Problem(404, "Requested rule wasn't found", exception=RULE_NOT_FOUND)
    return JSONResponse(row, headers={"X-Data-Version": str(row["data_version"])})


def _update(service: Any, id_or_alias: str, body: RuleBody, changed_by: str) -> Any:
    fields = body.fields()
    data_version = fields.pop("data_version", None)
    rule = service.update_rule(_key(id_or_alias), fields, data_version, changed_by)
    return JSONResponse({"new_data_version": rule.data_version})


def _key(id_or_alias: str) -> int | str:
    return int(id_or_alias) if id_or_alias.isdigit() else id_or_alias


@router.put(
    "/rules/{id_or_alias}", response_model=NewDataVersion, responses={400: {"model": ProblemDoc}}
)
def put_rule(
    id_or_alias: str, service: Service, changed_by: Actor, body: RuleBody = Body(...)
) -> Any:
    return _update(service, id_or_alias, body, changed_by)


@router.post(
    "/rules/{id_or_alias}", response_model=NewDataVersion, responses={400: {"model": ProblemDoc}}
)
def post_rule(
    id_or_alias: str, service: Service, changed_by: Actor, body: RuleBody = Body(...)
) -> Any:
    return _update(service, id_or_alias, body, changed_by)


@router.delete("/rules/{id_or_alias}", responses={400: {"model": ProblemDoc}})
def delete_rule(
    id_or_alias: str, service: Service, changed_by: Actor, data_version: int = Query(...)
) -> Response:
    service.delete_rule(_key(id_or_alias), data_version, changed_by)
    return Response(status_code=200)
