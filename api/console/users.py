"""``/ui/users``: who holds which permission and role; granting and revoking them.

The page shows who holds what, so it needs ``permission``/``view`` as the
API's ``/api/users`` does (declared in ``api.admin.access``; the refusal the
app-wide check recorded is raised here). Grants and revocations are the
service's commands, with Balrog's rules (a role only for a user holding a
permission; signoff policies on permission changes).
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from rulelog.api.console.caller import may, signed_in, who
from rulelog.api.console.moment import moment_of, state_of
from rulelog.api.console.render import page, redirect
from rulelog.api.console.session import ConsoleRefusal, FormData, data_version_of

router = APIRouter()


@router.get("/users", summary="Users, permissions and roles")
def users_page(request: Request) -> Any:
    refusal = getattr(request.state, "login_refusal", None)  # recorded by access.enforce
    moment = moment_of(request)
    who(request)
    if refusal is not None:
        raise refusal.error()
    with state_of(request, moment) as state:
        return page(
            request,
            "users.html",
            moment=moment,
            users=sorted(state.users.items()),
            may_grant=moment.live and may(request, "permission.create"),
            may_revoke=moment.live and may(request, "permission.delete"),
        )


@router.post("/users/grant", summary="Grant a permission or a role")
def grant(request: Request, form: FormData) -> Response:
    user = signed_in(request)
    service = request.app.state.service
    username = form.get("username", "").strip()
    if form.get("role", "").strip():
        service.grant_role(username, form["role"].strip(), user)
    else:
        try:
            options = json.loads(form.get("options") or "null")
        except json.JSONDecodeError as error:
            raise ConsoleRefusal(400, f"options: not JSON ({error.msg})") from None
        service.grant_permission(username, form.get("permission", "").strip(), options, user)
    return redirect(request, "/ui/users")


@router.post("/users/{username}/revoke", summary="Revoke a permission or a role")
def revoke(request: Request, username: str, form: FormData) -> Response:
    user = signed_in(request)
    service = request.app.state.service
    if form.get("role"):
        known = form.get("data_version", "")  # optional for a role, as in Balrog
        service.revoke_role(username, form["role"], user, int(known) if known.isdigit() else None)
    else:
        data_version = data_version_of(form)
        service.revoke_permission(username, form.get("permission", ""), data_version, user)
    return redirect(request, "/ui/users")
