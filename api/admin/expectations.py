"""``/api/expectations``: what update requests must get, and whether they do.

The same commands and checks as ``rulelog expect``: specs are validated by
``domain.expectations``, written by the application's expectation commands,
and checked by ``projections.expectations`` (live and test views, at any T).
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Body, Path, Query
from fastapi.responses import Response

from rulelog.api.admin.deps import Actor, Service
from rulelog.api.admin.timeline import READ_ERRORS, WRITE_ERRORS, Past, _position
from rulelog.domain.errors import NotFound
from rulelog.projections.expectations import check_state, listed, state_at, summary

router = APIRouter(tags=["expectations"])

AT = "A time (ISO 8601) or position:N [now]."


def _answer(value: Any, status: int = 200) -> Response:
    return Response(json.dumps(value, default=str), status, media_type="application/json")


@router.get("/expectations", responses=READ_ERRORS)
def list_expectations(
    timeline: Past,
    channel: str | None = Query(None, description="Only this channel's."),
    at: str | None = Query(None, description=AT),
) -> Response:
    """The expectations (as they were at ``at``), by product, channel and name."""
    return _answer(listed(state_at(timeline, _position(timeline, "at", at)), channel))


@router.get("/expectations/check", responses=READ_ERRORS)
def check_expectations(
    service: Service,
    timeline: Past,
    channel: str | None = Query(None, description="Only this channel's expectations."),
    at: str | None = Query(None, description=AT),
) -> Response:
    """Each expectation on the live view and on the test view of its channel at ``at``."""
    state = state_at(timeline, _position(timeline, "at", at))
    results = check_state(service, state, channel=channel)
    return _answer({"summary": summary(results), "results": results})


@router.get("/expectations/{name}", responses=READ_ERRORS)
def get_expectation(
    service: Service,
    timeline: Past,
    name: str = Path(...),
    at: str | None = Query(None, description=AT),
) -> Response:
    state = state_at(timeline, _position(timeline, "at", at))
    if name not in state.expectations:
        raise NotFound(f"expectation {name} does not exist", expectation=name)
    [result] = check_state(service, state, names=[name])
    return _answer({**state.expectations[name], "result": result})


@router.post("/expectations", status_code=201, responses=WRITE_ERRORS)
def add_expectation(service: Service, changed_by: Actor, body: Any = Body(...)) -> Response:
    """Add one: ``{"name", "url" or "fields", "expect", "reason"}``."""
    made = service.add_expectation(body, changed_by)
    return _answer({"name": made.name, "data_version": made.version}, 201)


@router.put("/expectations/{name}", responses=WRITE_ERRORS)
def change_expectation(
    service: Service, changed_by: Actor, name: str = Path(...), body: Any = Body(...)
) -> Response:
    spec = {**body, "name": name} if isinstance(body, dict) else body
    made = service.change_expectation(spec, changed_by)
    return _answer({"name": made.name, "data_version": made.version})


@router.delete("/expectations/{name}", responses=WRITE_ERRORS)
def remove_expectation(
    service: Service,
    changed_by: Actor,
    name: str = Path(...),
    reason: str | None = Query(None, description="Why (recorded)."),
) -> Response:
    service.remove_expectation(name, changed_by, reason)
    return _answer({})
