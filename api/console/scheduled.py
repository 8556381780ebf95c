"""``/ui/scheduled``: scheduled changes of every kind, and acting on them.

Each change shows what it waits for (its time or uptake, its signoffs) and
whether the signoffs it has were given on the test views as they are now
(the agent's own check). Signing off, revoking, enacting and cancelling
call what the admin API's routes call (``api.admin.scheduled_actions`` and
the service's commands), so the expectations that block a signoff, the
fingerprints an enactment checks and every permission apply here as well.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from rulelog.api.admin.access import may_view_access
from rulelog.api.admin.scheduled_actions import enact_and_check, sign_off
from rulelog.api.console.caller import may, roles_of, signed_in, who
from rulelog.api.console.moment import default_when, moment_of, state_of
from rulelog.api.console.render import page, redirect
from rulelog.api.console.rules import changed_fields, condition_of, rule_fields
from rulelog.api.console.session import ConsoleRefusal, FormData, data_version_of
from rulelog.domain.catalog.rules import RULE_COLUMNS
from rulelog.domain.workflow.scheduling import KINDS
from rulelog.projections.expectations import failing_by_change
from rulelog.projections.state import Catalog
from rulelog.services.agent import Agent
from rulelog.services.impact import scheduled_impact
from rulelog.services.targets import target_for
from rulelog.services.verification import ChannelViews

router = APIRouter()


def missing_roles(sc: dict[str, Any]) -> dict[str, int]:
    """Signoffs still needed, by role, against what was required when it was scheduled."""
    given = Counter(sc.get("signoffs", {}).values())
    return {
        r["role"]: r["signoffs_required"] - given[r["role"]]
        for r in sc.get("required") or []
        if given[r["role"]] < r["signoffs_required"]
    }


def signable_roles(sc: dict[str, Any], held: list[str]) -> list[str]:
    """The roles one may usefully sign ``sc`` off with: held, and one it still needs."""
    return [role for role in held if role in missing_roles(sc)]


def may_cancel(request: Request, sc: dict[str, Any]) -> bool:
    """Cancelling needs the permission the change itself needs (``cancel_scheduled_change``)."""
    product = (sc.get("row") or {}).get("product")
    return may(request, target_for(sc["kind"]).change_name(sc["change_type"]), product)


def status_of(request: Request, state: Catalog, sc: dict[str, Any], views: Any) -> str:
    """What a change waits for, in a release manager's words."""
    if sc["status"] != "pending":
        return sc["status"]
    waits = []
    if missing_roles(sc):
        waits.append("signoffs")
    condition = sc.get("condition") or {}
    if condition.get("when"):
        if condition["when"] > request.app.state.service.now().isoformat():
            waits.append("its time")
    else:
        key = (condition.get("telemetry_product"), condition.get("telemetry_channel"))
        if (state.uptake.get(key) or 0) < float(condition.get("telemetry_uptake") or 0):
            waits.append("uptake")
    status = "waiting for " + " and ".join(waits) if waits else "due: the agent enacts it"
    if views is not None and sc.get("signoff_fingerprints"):
        if Agent._stale_signoffs(views, [sc]):
            status += "; a signoff was given on a test view that has changed since (stale)"
        else:
            status += "; signed off on the test views as they are (current)"
    return status


def failing_expectations(
    request: Request, state: Catalog, rows: list[dict[str, Any]]
) -> dict[str, list[str]]:
    """For each pending change shown, the expectations it makes fail on a test view."""
    if not any(sc["status"] == "pending" for sc in rows):
        return {}
    found = failing_by_change(request.app.state.service, state)
    return {f"{kind}/{sc_id}": names for (kind, sc_id), names in found.items()}


@router.get("/scheduled", summary="Scheduled changes of every kind")
def scheduled_page(request: Request, ended: bool = False) -> Any:
    moment = moment_of(request)
    user = who(request)
    with state_of(request, moment) as state:
        views = ChannelViews(state) if moment.live else None
        shown_kinds = [k for k in KINDS if k != "permissions" or may_view_access(request)]
        rows = [
            sc
            for sc in sorted(state.scheduled.values(), key=lambda s: (s["kind"], s["sc_id"]))
            if sc["kind"] in shown_kinds and (ended or sc["status"] == "pending")
        ]
        statuses = {f"{s['kind']}/{s['sc_id']}": status_of(request, state, s, views) for s in rows}
        return page(
            request,
            "scheduled.html",
            moment=moment,
            changes=rows,
            statuses=statuses,
            ended=ended,
            signable={
                f"{s['kind']}/{s['sc_id']}": signable_roles(s, roles_of(state, user)) for s in rows
            },
            may_enact=moment.live and may(request, "scheduled_change.enact"),
            may_act=moment.live and bool(user),
            fields={
                f"{s['kind']}/{s['sc_id']}": changed_fields(state, s)
                for s in rows
                if s["kind"] == "rules"
            },
            cancellable={f"{s['kind']}/{s['sc_id']}" for s in rows if may_cancel(request, s)},
            expectations=failing_expectations(request, state, rows),
            checked=bool(state.expectations),
        )


def _kind(kind: str) -> str:
    if kind not in KINDS:
        raise ConsoleRefusal(404, f"There are no scheduled changes of kind {kind}.")
    return kind


def _back(sc_kind: str, sc_id: int) -> str:
    return f"/ui/scheduled#sc-{sc_kind}-{sc_id}"


@router.post("/scheduled/{kind}/{sc_id}/signoff", summary="Sign off a scheduled change")
def signoff(request: Request, kind: str, sc_id: int, form: FormData) -> Response:
    user = signed_in(request)
    role = form.get("role", "")
    with request.app.state.reader.current() as model:
        if role not in roles_of(model.catalog, user):
            raise ConsoleRefusal(403, f"{user} cannot sign off with role '{role}'")
        reason = form.get("override_reason", "").strip() or None
        sign_off(request.app.state.service, model.catalog, _kind(kind), sc_id, role, user, reason)
    return redirect(request, _back(kind, sc_id))


@router.post("/scheduled/{kind}/{sc_id}/revoke", summary="Revoke one's signoff")
def revoke(request: Request, kind: str, sc_id: int, form: FormData) -> Response:
    user = signed_in(request)
    request.app.state.service.revoke_signoff(_kind(kind), sc_id, user)
    return redirect(request, _back(kind, sc_id))


@router.post("/scheduled/{kind}/{sc_id}/enact", summary="Enact a scheduled change now")
def enact_now(request: Request, kind: str, sc_id: int, form: FormData) -> Response:
    user = signed_in(request)
    state = request.app.state
    enact_and_check(state.service, state.reader, _kind(kind), sc_id, user)
    return redirect(request, _back(kind, sc_id))


@router.post("/scheduled/{kind}/{sc_id}/cancel", summary="Cancel a scheduled change")
def cancel(request: Request, kind: str, sc_id: int, form: FormData) -> Response:
    user = signed_in(request)
    data_version = data_version_of(form)
    request.app.state.service.cancel_scheduled_change(_kind(kind), sc_id, data_version, user)
    return redirect(request, "/ui/scheduled")


@router.get("/scheduled/rules/{sc_id}", summary="A scheduled rule change, to modify")
def rule_change_page(request: Request, sc_id: int) -> Any:
    moment = moment_of(request)
    who(request)
    with state_of(request, moment) as state:
        sc = state.scheduled.get(("rules", sc_id))
        if sc is None or sc["status"] != "pending" or sc["row"] is None:
            raise ConsoleRefusal(404, f"No pending rule change {sc_id} to modify {moment.where}.")
        condition = sc.get("condition") or {}
        impact = scheduled_impact(request.app.state.service, state, "rules", sc_id)
        return page(
            request,
            "sc_rule.html",
            impact=impact,
            moment=moment,
            sc=sc,
            form={**sc["row"], **condition},
            columns=RULE_COLUMNS,
            required=[],
            may_edit=moment.live and may_cancel(request, sc),
            when=condition.get("when") or default_when(request),
        )


@router.post("/scheduled/rules/{sc_id}", summary="Modify a scheduled rule change")
def modify_rule_change(request: Request, sc_id: int, form: FormData) -> Response:
    user = signed_in(request)
    request.app.state.service.modify_scheduled_change(
        "rules",
        sc_id,
        data_version_of(form),
        user,
        row=rule_fields(form),
        condition=condition_of(form),
    )
    return redirect(request, _back("rules", sc_id))
