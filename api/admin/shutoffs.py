"""``/api/emergency_shutoff``: switching updates off for a product on a channel, and back on.

Anyone may list or read the shutoffs. Creating one never waits for signoffs
(it is the emergency switch); deleting one needs the signoffs of the
product policies covering its channel, so where those exist the direct
delete is refused with 400 "Signoff Required" and the deletion is scheduled
through ``/scheduled_changes/emergency_shutoff`` instead.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Path, Query
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from rulelog.api.admin.deps import Actor, Reader, Service
from rulelog.api.admin.html_answers import html, html_answer
from rulelog.api.admin.problems import Problem
from rulelog.api.admin.schemas import ProblemDoc
from rulelog.api.admin.users_schemas import WRITE_PROBLEMS, direct_edit, required_data_version

router = APIRouter(tags=["emergency shutoff"])


class ShutoffBody(BaseModel):
    """``EmergencyShutOffModel``: product and channel required; data_version is ignored."""

    model_config = ConfigDict(extra="allow")
    product: str = Field(..., min_length=1, max_length=15)
    channel: str = Field(..., min_length=1, max_length=75)
    comment: str | None = Field(None, max_length=500)
    data_version: int | None = Field(None, ge=1)


class ShutoffOut(BaseModel):
    product: str
    channel: str
    comment: str | None = None
    data_version: int


class ShutoffList(BaseModel):
    count: int
    shutoffs: list[ShutoffOut] = Field(default_factory=list)


def _row(reader: Reader, product: str, channel: str) -> dict[str, Any] | None:
    with reader.current() as model:
        row = model.catalog.shutoffs.get((product, channel))
        return _shown(row) if row is not None else None


def _shown(row: dict[str, Any]) -> dict[str, Any]:
    """Balrog's column order: product, channel, comment, data_version."""
    return {k: row.get(k) for k in ("product", "channel", "comment", "data_version")}


@router.get("/emergency_shutoff", response_model=ShutoffList)
def list_shutoffs(reader: Reader) -> Any:
    with reader.current() as model:
        rows = [_shown(r) for r in model.catalog.shutoffs.values()]
    return JSONResponse({"count": len(rows), "shutoffs": rows})


@router.post(
    "/emergency_shutoff",
    status_code=201,
    response_model=ShutoffOut,
    responses={201: {"model": ShutoffOut, "description": "Updates are now off"}, **WRITE_PROBLEMS},
)
def create_shutoff(
    service: Service, reader: Reader, changed_by: Actor, body: ShutoffBody = Body(...)
) -> Any:
    if _row(reader, body.product, body.channel) is not None:
        raise Problem(
            400,
            "Invalid Emergency shutoff data",
            exception="Emergency shutoff for product/channel already exists.",
            by_connexion=True,
        )
    shutoff = service.create_shutoff(body.product, body.channel, changed_by, comment=body.comment)
    return JSONResponse(shutoff.as_balrog(), status_code=201)


@router.get(
    "/emergency_shutoff/{product}/{channel}",
    response_model=ShutoffOut,
    responses={404: {"model": ProblemDoc, "description": "No such shutoff"}},
)
def get_shutoff(reader: Reader, product: str = Path(...), channel: str = Path(...)) -> Any:
    row = _row(reader, product, channel)
    if row is None:
        raise Problem(
            404,
            "Requested emergency shutoff wasn't found",
            exception="Requested shutoff does not exist",
            by_connexion=True,
        )
    return JSONResponse(row, headers={"X-Data-Version": str(row["data_version"])})


@router.delete(
    "/emergency_shutoff/{product}/{channel}",
    response_class=Response,
    responses={200: html_answer("Updates are on again (no body)"), **WRITE_PROBLEMS},
)
def delete_shutoff(
    service: Service,
    reader: Reader,
    changed_by: Actor,
    product: str = Path(...),
    channel: str = Path(...),
    data_version: int | None = Query(None, description="data version of the shutoff (required)"),
) -> Response:
    version = required_data_version(data_version)
    if _row(reader, product, channel) is None:
        raise Problem(
            404, "Shutoff wasn't found", exception="Shutoff does not exist", by_connexion=True
        )
    with direct_edit():
        service.delete_shutoff(product, channel, version, changed_by)
    return html()
