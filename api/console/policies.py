"""``/ui/signoffs`` and ``/ui/channel-maps``: signoff policies and test-channel mappings.

A signoff policy is added with the service's command (Balrog's rules refuse
what needs signing off, and say so); it is never removed directly, as in
Balrog: the page schedules its removal, to be signed off like any change.
Mapping a test channel to its live channel (or removing a mapping) changes
what clients on the test channel are served, so it needs an admin; the
service checks that.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from rulelog.api.console.caller import is_admin, signed_in, who
from rulelog.api.console.moment import default_when, moment_of, state_of
from rulelog.api.console.render import page, redirect
from rulelog.api.console.session import ConsoleRefusal, FormData, data_version_of
from rulelog.domain.workflow.policies import KEY_COLUMNS

router = APIRouter()



def _kind(form: dict[str, str]) -> str:
    kind = form.get("kind", "")
    if kind not in KEY_COLUMNS:
        raise ConsoleRefusal(400, f"kind: must be one of {', '.join(KEY_COLUMNS)}")
    return kind


@router.get("/signoffs", summary="Required signoffs")
def signoffs_page(request: Request) -> Any:
    moment = moment_of(request)
    who(request)
    with state_of(request, moment) as state:
        rows = [
            {"kind": kind, **row}
            for kind in KEY_COLUMNS
            for row in sorted(state.policies[kind].values(), key=lambda r: str(r))
        ]
        return page(
            request,
            "signoffs.html",
            moment=moment,
            policies=rows,
            key_columns=KEY_COLUMNS,
            may_change=moment.live and bool(getattr(request.state, "caller", "")),
            when=default_when(request),
        )


@router.post("/signoffs", summary="Add a signoff policy")
def add_policy(request: Request, form: FormData) -> Response:
    user = signed_in(request)
    kind = _kind(form)
    columns = (*KEY_COLUMNS[kind], "signoffs_required")
    row: dict[str, Any] = {c: form.get(c, "").strip() or None for c in columns}
    try:
        row["signoffs_required"] = int(row["signoffs_required"] or "")
    except ValueError:
        raise ConsoleRefusal(400, "signoffs_required: must be a whole number") from None
    request.app.state.service.add_required_signoff(kind, row, user)
    return redirect(request, "/ui/signoffs")


@router.post("/signoffs/remove", summary="Schedule the removal of a signoff policy")
def remove_policy(request: Request, form: FormData) -> Response:
    user = signed_in(request)
    kind = _kind(form)
    row = {c: form.get(c) or None for c in KEY_COLUMNS[kind]}
    data_version = data_version_of(form)
    condition = {"when": form.get("when", "").strip()}
    sc = request.app.state.service.schedule_change(
        f"required_signoffs/{kind}", "delete", row, condition, user, data_version
    )
    return redirect(request, f"/ui/scheduled#sc-required_signoffs/{kind}-{sc.sc_id}")


@router.get("/channel-maps", summary="Test-channel mappings")
def channel_maps_page(request: Request) -> Any:
    moment = moment_of(request)
    who(request)
    with state_of(request, moment) as state:
        return page(
            request,
            "channel_maps.html",
            moment=moment,
            maps=sorted(state.test_channels.items()),
            may_change=moment.live and is_admin(request),
        )


@router.post("/channel-maps", summary="Map a test channel to its live channel")
def map_channel(request: Request, form: FormData) -> Response:
    user = signed_in(request)
    live, test = form.get("live", "").strip(), form.get("test", "").strip()
    request.app.state.service.map_test_channel(live, test, user)
    return redirect(request, "/ui/channel-maps")


@router.post("/channel-maps/{test}/remove", summary="Remove a test-channel mapping")
def unmap_channel(request: Request, test: str, form: FormData) -> Response:
    request.app.state.service.unmap_test_channel(test, signed_in(request))
    return redirect(request, "/ui/channel-maps")
