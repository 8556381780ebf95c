"""``/api/required_signoffs/{product,permissions}``: the signoff policies, as Balrog serves them.

Anyone may read the policies and their revisions. A policy can be created
directly only where it is the first on its product (and channel) -- every
later one, and every change or removal, needs the existing policies'
signoffs, so Balrog refuses it here with 400 "Signoff Required" and the
change goes through ``/scheduled_changes/required_signoffs/...``. Deleting
directly is always refused, even without a token, as Balrog does.
"""

from __future__ import annotations

from typing import Any, NoReturn

from fastapi import APIRouter, Body, Depends, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from rulelog.api.admin.deps import Actor, Reader, Service
from rulelog.api.admin.problems import Problem
from rulelog.api.admin.rules import strict_query
from rulelog.api.admin.schemas import NewDataVersion, ProblemDoc
from rulelog.api.admin.users_schemas import (
    WRITE_PROBLEMS,
    as_balrog_value_error,
    check_param,
    direct_edit,
)
from rulelog.domain import ids
from rulelog.domain.workflow.policies import KEY_COLUMNS, SignoffPolicies, policy_key
from rulelog.projections.history import stream_of
from rulelog.services.policy_holders import check_enough_holders
from rulelog.services.targets import target_for

router = APIRouter(tags=["required signoffs"])

#: The body members Balrog requires, in the order its schema lists them.
REQUIRED_MEMBERS = {
    "product": ("product", "role", "channel", "signoffs_required"),
    "permissions": ("product", "role", "signoffs_required"),
}


class ProductPolicyBody(BaseModel):
    """A product required signoff to create (all members required)."""

    model_config = ConfigDict(
        extra="allow", json_schema_extra={"required": list(REQUIRED_MEMBERS["product"])}
    )
    product: str | None = Field(None, min_length=1, max_length=15)
    channel: str | None = Field(None, min_length=1, max_length=75)
    role: str | None = Field(None, min_length=1, max_length=50)
    signoffs_required: int | str | None = Field(None, description="an integer >= 1")


class PermissionsPolicyBody(BaseModel):
    """A permissions required signoff to create (all members required)."""

    model_config = ConfigDict(
        extra="allow", json_schema_extra={"required": list(REQUIRED_MEMBERS["permissions"])}
    )
    product: str | None = Field(None, min_length=1, max_length=15)
    role: str | None = Field(None, min_length=1, max_length=50)
    signoffs_required: int | str | None = Field(None, description="an integer >= 1")


class PolicyOut(BaseModel):
    product: str
    channel: str | None = None
    role: str
    signoffs_required: int
    data_version: int


class PolicyList(BaseModel):
    count: int
    required_signoffs: list[PolicyOut] = Field(default_factory=list)


class PolicyRevision(PolicyOut):
    change_id: int
    changed_by: str | None = None
    timestamp: int


class PolicyRevisionList(BaseModel):
    count: int
    required_signoffs: list[PolicyRevision] = Field(default_factory=list)


# --------------------------------------------------------------- helpers


def _policies(reader: Reader, kind: str, where: dict[str, str]) -> list[dict[str, Any]]:
    with reader.current() as model:
        rows = [dict(r) for r in model.catalog.policies[kind].values()]
    return [r for r in rows if all(r.get(k) == v for k, v in where.items())]


def _signoffs_required(value: Any) -> int:
    """Balrog's ``signoffs_required`` format check, then its ``int()`` in the handler."""
    if isinstance(value, bool):  # JSON Schema draft 4: a boolean is not an integer
        raise Problem(400, f"signoffs_required: {value!r} is not of type 'integer', 'string'")
    if value == "":  # the format check lets it pass; Balrog's int('') raises ValueError
        raise Problem(400, "Unknown error", exception="invalid literal for int() with base 10: ''")
    try:
        count = int(value)
    except (TypeError, ValueError):
        cause = "Invalid input for signoffs_required. Not an integer."
        raise Problem(
            400, f"{cause} signoffs_required: {value!r} is not a 'signoffs_required'"
        ) from None
    if count < 1:
        cause = "signoffs_required field value should be an integer >= 1"
        raise Problem(400, f"{cause} signoffs_required: {value!r} is not a 'signoffs_required'")
    return count


def _create(
    service: Service, reader: Reader, kind: str, body: BaseModel, changed_by: str
) -> JSONResponse:
    sent = body.model_dump(exclude_unset=True)
    for name in REQUIRED_MEMBERS[kind]:
        if sent.get(name) is None:
            raise Problem(400, f"{name!r} is a required property")
    row = {c: sent[c] for c in KEY_COLUMNS[kind]}
    row["signoffs_required"] = _signoffs_required(sent["signoffs_required"])
    if _policies(reader, kind, {c: row[c] for c in KEY_COLUMNS[kind]}):
        raise Problem(
            400, "Signoff Required", exception="Required Signoffs cannot be directly modified"
        )
    # Balrog's order: the permission, enough role holders, then the signoffs it needs.
    target = target_for(f"required_signoffs/{kind}")
    service.require(changed_by, target.change_name("insert"), new_product=row["product"])
    with as_balrog_value_error():
        check_enough_holders(service, kind, row)
    with as_balrog_value_error(), direct_edit():
        service.add_required_signoff(kind, row, changed_by)
    return JSONResponse({"new_data_version": 1}, status_code=201)


def _refuse_delete() -> NoReturn:
    raise Problem(
        400, "Signoff Required", exception="Required Signoffs cannot be directly deleted."
    )


def _revisions(
    service: Service, reader: Reader, kind: str, where: dict[str, str], page: int, limit: int
) -> JSONResponse:
    """Every stored state of one policy, newest first: its creations and changes
    (removals are left out, as Balrog filters out its NULL data_version rows)."""
    if not _policies(reader, kind, where):
        raise Problem(404, "Requested Required Signoff does not exist")
    key = policy_key(kind, where)
    versions = 0
    found: list[dict[str, Any]] = []
    for logged in stream_of(service, ids.signoff_policies_id()):
        event = logged.event
        if getattr(event, "kind", None) != kind:
            continue
        if isinstance(event, SignoffPolicies.PolicyRemoved) and event.key == key:
            versions = 0
        elif isinstance(event, SignoffPolicies.PolicySet) and policy_key(kind, event.row) == key:
            versions += 1
            found.append(
                {
                    "change_id": logged.position,
                    "changed_by": event.changed_by,
                    "timestamp": int(event.timestamp.timestamp() * 1000),
                    **event.row,
                    "data_version": versions,
                }
            )
    found.sort(key=lambda r: (r["timestamp"], r["change_id"]), reverse=True)
    start = limit * (page - 1)
    return JSONResponse({"count": len(found), "required_signoffs": found[start : start + limit]})


#: Balrog's ``pageParam`` and ``limitParam`` as connexion checks them.
PAGING_PARAMS: dict[str, dict[str, Any]] = {
    "page": {
        "name": "page",
        "in": "query",
        "description": "Variable value used pagination of response revisions.",
        "type": "integer",
        "minimum": 1,
        "x-nullable": True,
    },
    "limit": {
        "name": "limit",
        "in": "query",
        "description": "Variable value used for calculating offset for pagination.",
        "type": "integer",
        "minimum": 1,
        "x-nullable": True,
    },
}


def _page(value: int | None, name: str) -> int:
    if value is None:
        return 1 if name == "page" else 100
    check_param(PAGING_PARAMS[name], value)
    return value


PRODUCT_Q = Query(None, description="Only the policies of this product.")
CHANNEL_Q = Query(None, description="Only the policies of this channel.")
PAGE_Q = Query(None, description="Page of revisions (from 1).")
LIMIT_Q = Query(None, description="Revisions per page (default 100).")
CREATE_RESPONSES: dict[int | str, dict[str, Any]] = {
    201: {"model": NewDataVersion, "description": "Created"},
    **WRITE_PROBLEMS,
}
DELETE_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": ProblemDoc, "description": "Always: schedule the deletion instead"}
}
REVISION_PROBLEMS: dict[int | str, dict[str, Any]] = {
    400: {"model": ProblemDoc, "description": "Bad query"},
    404: {"model": ProblemDoc, "description": "No such policy"},
}


# ----------------------------------------------------------------- product


@router.get("/required_signoffs/product", response_model=PolicyList)
def list_product_policies(
    reader: Reader, product: str | None = PRODUCT_Q, channel: str | None = CHANNEL_Q
) -> Any:
    where = {k: v for k, v in (("product", product), ("channel", channel)) if v is not None}
    rows = _policies(reader, "product", where)
    return JSONResponse({"count": len(rows), "required_signoffs": rows})


@router.post(
    "/required_signoffs/product",
    status_code=201,
    response_model=NewDataVersion,
    responses=CREATE_RESPONSES,
)
def create_product_policy(
    service: Service, reader: Reader, changed_by: Actor, body: ProductPolicyBody = Body(...)
) -> Any:
    return _create(service, reader, "product", body, changed_by)


@router.delete("/required_signoffs/product", responses=DELETE_RESPONSES)
def delete_product_policy() -> Any:
    return _refuse_delete()


@router.get(
    "/required_signoffs/product/revisions",
    response_model=PolicyRevisionList,
    responses=REVISION_PROBLEMS,
    dependencies=[Depends(strict_query("product", "role", "channel", "page", "limit"))],
)
def product_policy_revisions(
    service: Service,
    reader: Reader,
    product: str = Query(..., min_length=1, max_length=15),
    role: str = Query(..., min_length=1, max_length=50),  # Balrog's parameter order
    channel: str = Query(..., min_length=1, max_length=75),
    page: int | None = PAGE_Q,
    limit: int | None = LIMIT_Q,
) -> Any:
    where = {"product": product, "channel": channel, "role": role}
    return _revisions(service, reader, "product", where, _page(page, "page"), _page(limit, "limit"))


# ------------------------------------------------------------- permissions


@router.get("/required_signoffs/permissions", response_model=PolicyList)
def list_permissions_policies(reader: Reader, product: str | None = PRODUCT_Q) -> Any:
    where = {"product": product} if product is not None else {}
    rows = _policies(reader, "permissions", where)
    return JSONResponse({"count": len(rows), "required_signoffs": rows})


@router.post(
    "/required_signoffs/permissions",
    status_code=201,
    response_model=NewDataVersion,
    responses=CREATE_RESPONSES,
)
def create_permissions_policy(
    service: Service, reader: Reader, changed_by: Actor, body: PermissionsPolicyBody = Body(...)
) -> Any:
    return _create(service, reader, "permissions", body, changed_by)


@router.delete("/required_signoffs/permissions", responses=DELETE_RESPONSES)
def delete_permissions_policy() -> Any:
    return _refuse_delete()


@router.get(
    "/required_signoffs/permissions/revisions",
    response_model=PolicyRevisionList,
    responses=REVISION_PROBLEMS,
    dependencies=[Depends(strict_query("product", "role", "page", "limit"))],
)
def permissions_policy_revisions(
    service: Service,
    reader: Reader,
    product: str = Query(..., min_length=1, max_length=15),
    role: str = Query(..., min_length=1, max_length=50),
    page: int | None = PAGE_Q,
    limit: int | None = LIMIT_Q,
) -> Any:
    where = {"product": product, "role": role}
    return _revisions(
        service, reader, "permissions", where, _page(page, "page"), _page(limit, "limit")
    )
