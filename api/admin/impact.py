"""Traffic impact over HTTP: what a scheduled or proposed change would do to real requests.

``GET /api/scheduled_changes/{kind}/{sc_id}/impact`` and ``POST /api/impact`` call
the same service functions as ``rulelog impact`` (``services.impact``); the
sampled requests are the public servers' (``RULELOG_IMPACT_SAMPLE_RATE``).
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Body, Path
from fastapi.responses import Response

from rulelog.api.admin.deps import Actor, Service
from rulelog.api.admin.timeline import READ_ERRORS, WRITE_ERRORS, Past
from rulelog.domain.errors import Invalid
from rulelog.services.impact import proposed_impact, scheduled_impact

router = APIRouter(tags=["impact"])


def _answer(value: Any) -> Response:
    return Response(json.dumps(value), media_type="application/json")


@router.get("/scheduled_changes/{kind}/{sc_id}/impact", responses=READ_ERRORS)
def scheduled_change_impact(
    service: Service, timeline: Past, kind: str = Path(...), sc_id: int = Path(..., ge=1)
) -> Response:
    """How many sampled update requests this pending change would move, and where."""
    timeline.catch_up()
    return _answer(scheduled_impact(service, timeline.current(), kind, sc_id))


@router.post("/impact", responses=WRITE_ERRORS)
def change_impact(
    service: Service, timeline: Past, changed_by: Actor, body: Any = Body(...)
) -> Response:
    """The same for a change not scheduled: ``{"kind", "change_type", "row"}``; validated
    as a real change would be, and nothing is saved."""
    if not isinstance(body, dict):
        raise Invalid("body: must be an object")
    missing = [k for k in ("kind", "change_type", "row") if k not in body]
    if missing:
        raise Invalid(f"body: missing {', '.join(missing)}", field=missing[0])
    timeline.catch_up()
    state = timeline.current()
    return _answer(
        proposed_impact(service, state, str(body["kind"]), str(body["change_type"]), body["row"])
    )
