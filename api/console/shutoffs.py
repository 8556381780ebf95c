"""``/ui/shutoffs``: emergency shutoffs (add, lift) and pins.

A shutoff stops updates on a product's channel at once, so adding one needs
only its permission; lifting one is a change Balrog makes go through its
signoff policies, so where a policy covers the channel the form schedules
the deletion instead (``schedule_change``), to be signed off like any other.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from rulelog.api.console.caller import may, signed_in, who
from rulelog.api.console.moment import default_when, moment_of, state_of
from rulelog.api.console.render import page, redirect
from rulelog.api.console.session import FormData, data_version_of

router = APIRouter()



@router.get("/shutoffs", summary="Emergency shutoffs and pins")
def shutoffs_page(request: Request) -> Any:
    moment = moment_of(request)
    who(request)
    with state_of(request, moment) as state:
        shutoffs = sorted(state.shutoffs.values(), key=lambda r: (r["product"], r["channel"]))
        pins = sorted(state.pins.values(), key=lambda r: (r["product"], r["channel"]))
        return page(
            request,
            "shutoffs.html",
            moment=moment,
            shutoffs=shutoffs,
            pins=pins,
            may_add=moment.live and may(request, "emergency_shutoff.create"),
            liftable={
                (r["product"], r["channel"])
                for r in shutoffs
                if moment.live and may(request, "emergency_shutoff.delete", r["product"])
            },
            when=default_when(request),
        )


@router.post("/shutoffs", summary="Add an emergency shutoff")
def add_shutoff(request: Request, form: FormData) -> Response:
    user = signed_in(request)
    product, channel = form.get("product", "").strip(), form.get("channel", "").strip()
    comment = form.get("comment", "").strip() or None
    request.app.state.service.create_shutoff(product, channel, user, comment)
    return redirect(request, "/ui/shutoffs")


@router.post("/shutoffs/{product}/{channel}/delete", summary="Lift an emergency shutoff")
def lift_shutoff(request: Request, product: str, channel: str, form: FormData) -> Response:
    user = signed_in(request)
    data_version = data_version_of(form)
    service = request.app.state.service
    if form.get("mode") == "schedule":
        row = {"product": product, "channel": channel}
        condition = {"when": form.get("when", "").strip()}
        sc = service.schedule_change(
            "emergency_shutoff", "delete", row, condition, user, data_version
        )
        return redirect(request, f"/ui/scheduled#sc-emergency_shutoff-{sc.sc_id}")
    service.delete_shutoff(product, channel, data_version, user)
    return redirect(request, "/ui/shutoffs")
