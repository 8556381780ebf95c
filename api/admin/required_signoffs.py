"""``/api/required_signoffs/{product,permissions}``: the signoff policies, as Balrog serves them.

Anyone may read the policies and their revisions. A policy can be created
directly only where it is the first on its product (and channel) -- every
later one, and every change or removal, needs the existing policies'
signoffs, so Balrog refuses it here with 400 "Signoff Required" and the
change goes through ``/scheduled_changes/required_signoffs/...``. Deleting
directly is always refused, even without a token, as Balrog does.

Both kinds' routes are made by one function (``_register``); they differ only
in their body and query parameters. No ``from __future__ import annotations``
here: FastAPI reads the handlers' annotations, which name the kind's body model.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NoReturn

from fastapi import APIRouter, Body, Depends, Query
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from rulelog.api.admin.deps import Actor, Reader, Service
from rulelog.api.admin.html_answers import html_answer, html_json
from rulelog.api.admin.problems import Problem
from rulelog.api.admin.rules import strict_query
from rulelog.api.admin.schemas import ProblemDoc
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
    return html_json({"new_data_version": 1}, 201)


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
    with reader.current() as model:
        found = model.change_ids.rows(f"{kind}_req_signoffs", found)
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
PRODUCT_KEY = Query(..., min_length=1, max_length=15)
CHANNEL_KEY = Query(..., min_length=1, max_length=75)
ROLE_KEY = Query(..., min_length=1, max_length=50)
CREATE_RESPONSES: dict[int | str, dict[str, Any]] = {
    201: html_answer("Created", '{"new_data_version": 1}'),
    **WRITE_PROBLEMS,
}
DELETE_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": ProblemDoc, "description": "Always: schedule the deletion instead"}
}
REVISION_PROBLEMS: dict[int | str, dict[str, Any]] = {
    400: {"model": ProblemDoc, "description": "Bad query"},
    404: {"model": ProblemDoc, "description": "No such policy"},
}


@dataclass(frozen=True)
class RevisionQuery:
    """Which policy's revisions, and which page of them."""

    where: dict[str, str]
    page: int | None
    limit: int | None


def _given(**values: str | None) -> dict[str, str]:
    return {k: v for k, v in values.items() if v is not None}


# The query parameters of each kind, in Balrog's order (they are all that differs).


def _product_filters(product: str | None = PRODUCT_Q, channel: str | None = CHANNEL_Q) -> dict:
    return _given(product=product, channel=channel)


def _permissions_filters(product: str | None = PRODUCT_Q) -> dict:
    return _given(product=product)


def _product_revisions(
    product: str = PRODUCT_KEY,
    role: str = ROLE_KEY,  # Balrog's parameter order
    channel: str = CHANNEL_KEY,
    page: int | None = PAGE_Q,
    limit: int | None = LIMIT_Q,
) -> RevisionQuery:
    return RevisionQuery({"product": product, "channel": channel, "role": role}, page, limit)


def _permissions_revisions(
    product: str = PRODUCT_KEY,
    role: str = ROLE_KEY,
    page: int | None = PAGE_Q,
    limit: int | None = LIMIT_Q,
) -> RevisionQuery:
    return RevisionQuery({"product": product, "role": role}, page, limit)


def _register(
    kind: str,
    body_model: type[BaseModel],
    filters: Callable[..., dict],
    revision_query: Callable[..., RevisionQuery],
    revision_params: tuple[str, ...],
) -> None:
    """The four routes of one kind of policy (``product`` or ``permissions``)."""
    path = f"/required_signoffs/{kind}"

    def list_policies(reader: Reader, where: dict = Depends(filters)) -> Any:
        rows = _policies(reader, kind, where)
        return JSONResponse({"count": len(rows), "required_signoffs": rows})

    def create_policy(
        service: Service,
        reader: Reader,
        changed_by: Actor,
        body: body_model = Body(...),  # type: ignore[valid-type]
    ) -> Any:
        return _create(service, reader, kind, body, changed_by)

    def delete_policy() -> Any:
        return _refuse_delete()

    def policy_revisions(
        service: Service, reader: Reader, query: RevisionQuery = Depends(revision_query)
    ) -> Any:
        page, limit = _page(query.page, "page"), _page(query.limit, "limit")
        return _revisions(service, reader, kind, query.where, page, limit)

    router.add_api_route(
        path,
        list_policies,
        methods=["GET"],
        response_model=PolicyList,
        name=f"list_{kind}_policies",
    )
    router.add_api_route(
        path,
        create_policy,
        methods=["POST"],
        status_code=201,
        response_class=Response,
        responses=CREATE_RESPONSES,
        name=f"create_{kind}_policy",
    )
    router.add_api_route(
        path,
        delete_policy,
        methods=["DELETE"],
        responses=DELETE_RESPONSES,
        name=f"delete_{kind}_policy",
    )
    router.add_api_route(
        f"{path}/revisions",
        policy_revisions,
        methods=["GET"],
        response_model=PolicyRevisionList,
        responses=REVISION_PROBLEMS,
        dependencies=[Depends(strict_query(*revision_params))],
        name=f"{kind}_policy_revisions",
    )


_register(
    "product",
    ProductPolicyBody,
    _product_filters,
    _product_revisions,
    ("product", "role", "channel", "page", "limit"),
)
_register(
    "permissions",
    PermissionsPolicyBody,
    _permissions_filters,
    _permissions_revisions,
    ("product", "role", "page", "limit"),
)
