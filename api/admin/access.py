"""What every admin route needs from its caller: the one table, and its enforcement.

Each route of the admin app is declared here, by method and path, with the
access it needs; ``install`` refuses to build an app with a route missing
from the table (a new route cannot forget), writes each route's need into the
OpenAPI document (``x-rulelog-access``) and adds one app-wide dependency that
enforces it.

The needs follow Balrog: reads of rules, releases, shutoffs, policies and
their history are public; anything that shows who holds which permission or
role -- the users routes, the permissions history, scheduled permission
changes, and the permission, role and token rows of the audit feed -- needs
``permission``/``view`` (Balrog's ``getAllPermissions``), or is one's own
(``getUserPermissions``); every write needs a verified identity, and the
domain command then checks the permission for what it changes. Balrog lists
scheduled permission changes to anyone; rulelog does not (they are grants).

Enforcement keeps Balrog's order of answers: the request is validated
before the caller is refused, so a refusal is recorded (``LoginRefusal``)
and raised at the handler's first use of the store (``api.admin.deps``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from enum import StrEnum
from typing import Any

from fastapi import APIRouter, Request
from fastapi.routing import APIRoute

from rulelog.api.admin.deps import identify
from rulelog.api.admin.problems import LoginRefusal
from rulelog.domain.errors import PermissionDenied
from rulelog.domain.workflow.scheduling import KINDS as SC_KINDS

__all__ = ["Need", "install", "may_view_access", "need_of"]


class Need(StrEnum):
    PUBLIC = "public"
    #: Public, but rows about permissions, roles and tokens only with permission/view.
    PUBLIC_REDACTED = "public; access rows need permission/view"
    IDENTITY = "identity; the change's own permission"
    VIEW = "permission/view"
    SELF_OR_VIEW = "one's own, or permission/view"


#: Scheduled changes anyone may read: all but those of permissions (grants).
_SC_KINDS = tuple(kind for kind in SC_KINDS if kind != "permissions")

#: The console's pages anyone may read (Balrog's UI reads the same public routes).
CONSOLE_PAGES = (
    "",
    "/",
    "/signin",
    "/oidc/login",
    "/oidc/callback",
    "/rules",
    "/rules/new",
    "/rules/{rule_id}",
    "/releases",
    "/releases/{name}",
    "/scheduled",
    "/scheduled/rules/{sc_id}",
    "/history",
    "/channels",
    "/channels/{test}",
    "/explain",
    "/shutoffs",
    "/signoffs",
    "/channel-maps",
)

#: Reads, by path as the OpenAPI document lists it. Writes (any other method) need an
#: identity and the permission the domain checks for the change they make.
READS: dict[str, Need] = {
    "/__heartbeat__": Need.PUBLIC,
    "/__lbheartbeat__": Need.PUBLIC,
    "/__version__": Need.PUBLIC,
    "/metrics": Need.PUBLIC,  # Prometheus' scrape, as Balrog's dockerflow routes
    "/api/rules": Need.PUBLIC,
    "/api/rules/history": Need.PUBLIC,
    "/api/rules/columns/{column}": Need.PUBLIC,
    "/api/rules/{id_or_alias}": Need.PUBLIC,
    "/api/rules/{rule_id}/revisions": Need.PUBLIC,
    "/api/releases": Need.PUBLIC,
    "/api/releases/columns/{column}": Need.PUBLIC,
    "/api/releases/{release}": Need.PUBLIC,
    "/api/releases/{release}/builds/{platform}/{locale}": Need.PUBLIC,
    "/api/releases/{release}/read_only": Need.PUBLIC,
    "/api/releases/{release}/read_only/product/required_signoffs": Need.PUBLIC,
    "/api/releases/{release}/revisions": Need.PUBLIC,
    "/api/v2/releases": Need.PUBLIC,
    "/api/v2/releases/{name}": Need.PUBLIC,
    "/api/v2/releases/{name}/data_versions": Need.PUBLIC,
    "/api/v2/releases/{name}/{path}/data_version": Need.PUBLIC,
    "/api/v2/pins/{product}/{channel}/{version}": Need.PUBLIC,
    "/api/emergency_shutoff": Need.PUBLIC,
    "/api/emergency_shutoff/{product}/{channel}": Need.PUBLIC,
    "/api/required_signoffs/product": Need.PUBLIC,
    "/api/required_signoffs/product/revisions": Need.PUBLIC,
    "/api/required_signoffs/product/history": Need.PUBLIC,
    "/api/required_signoffs/permissions": Need.PUBLIC,
    "/api/required_signoffs/permissions/revisions": Need.PUBLIC,
    "/api/required_signoffs/permissions/history": Need.PUBLIC,
    "/api/scheduled_change/diff/release/{sc_id}": Need.PUBLIC,
    **{
        f"/api/scheduled_changes/{kind}{tail}": Need.PUBLIC
        for kind in _SC_KINDS
        for tail in ("", "/{sc_id}", "/{sc_id}/revisions")
    },
    "/api/scheduled_changes/permissions": Need.VIEW,
    "/api/scheduled_changes/permissions/{sc_id}": Need.VIEW,
    "/api/scheduled_changes/permissions/{sc_id}/revisions": Need.VIEW,
    "/api/permissions/history": Need.VIEW,
    "/api/users": Need.VIEW,
    "/api/users/{username}": Need.SELF_OR_VIEW,
    "/api/users/{username}/permissions": Need.SELF_OR_VIEW,
    "/api/users/{username}/permissions/{permission}": Need.SELF_OR_VIEW,
    "/api/timeline/rules": Need.PUBLIC,
    "/api/timeline/releases/{name}": Need.PUBLIC,
    "/api/timeline/changes": Need.PUBLIC_REDACTED,
    "/api/timeline/diff": Need.PUBLIC,
    "/api/timeline/sync-status": Need.PUBLIC,
    "/api/timeline/explain": Need.PUBLIC,
    "/api/timeline/test-channels": Need.PUBLIC,
    "/api/expectations": Need.PUBLIC,
    "/api/expectations/check": Need.PUBLIC,
    "/api/expectations/{name}": Need.PUBLIC,
    # What a pending change would do to sampled traffic (request targets only).
    "/api/scheduled_changes/{kind}/{sc_id}/impact": Need.PUBLIC,
    # The web console (api.console): its pages show what the reads above show, and each
    # of its forms (a POST: an identity) calls the command that checks its own permission.
    **{f"/ui{page}": Need.PUBLIC for page in CONSOLE_PAGES},
    "/ui/users": Need.VIEW,
}

#: Writes that are refused to everyone, before any login (Balrog: policies are never
#: deleted directly), so they need nothing.
ALWAYS_REFUSED: frozenset[tuple[str, str]] = frozenset(
    {
        ("DELETE", "/api/required_signoffs/product"),
        ("DELETE", "/api/required_signoffs/permissions"),
    }
)

#: Balrog's words for a caller without permission/view (``getAllPermissions``).
NOT_ALLOWED = "You are not authorized to view permissions of other users."


def need_of(method: str, path: str) -> Need | None:
    """The declared need of a route (``path`` as the OpenAPI document names it)."""
    if method.upper() in ("GET", "HEAD"):
        return READS.get(path)
    return Need.PUBLIC if (method.upper(), path) in ALWAYS_REFUSED else Need.IDENTITY


def install(app: Any, routers: Iterable[tuple[APIRouter, str]]) -> None:
    """Declare every route's need before ``routers`` are included (prefix each), or fail."""
    needs: dict[tuple[Any, str], Need] = {}
    missing: list[str] = []
    for route, prefix in _walk(routers):
        for method in sorted(route.methods):
            path = re.sub(r"\{(\w+):\w+\}", r"{\1}", prefix + route.path)  # as OpenAPI
            need = need_of(method, path)
            if need is None:
                missing.append(f"{method} {path}")
                continue
            needs[(route.endpoint, method)] = need
            route.openapi_extra = {**(route.openapi_extra or {}), "x-rulelog-access": need}
    if missing:
        raise RuntimeError(f"admin routes without a declared access need: {', '.join(missing)}")
    app.state.access = needs


def _walk(routers: Iterable[tuple[APIRouter, str]]) -> Iterable[tuple[APIRoute, str]]:
    """Every route of ``routers`` with its prefix, into routers they include."""
    for router, prefix in routers:
        for route in router.routes:
            if isinstance(route, APIRoute):
                yield route, prefix
            included = getattr(route, "original_router", None)  # FastAPI's lazy include
            if isinstance(included, APIRouter):
                context = getattr(route, "include_context", None)
                yield from _walk([(included, prefix + getattr(context, "prefix", ""))])


def _may_view(request: Request, username: str) -> bool:
    try:
        request.app.state.service.require(username, "permission.view")
    except PermissionDenied:
        return False
    return True


def may_view_access(request: Request) -> bool:
    """Whether the caller (if any) may see who holds which permission and role."""
    if not request.headers.get("authorization"):
        return False
    username = identify(request)
    if not username:  # a public read: an unidentified caller is not refused, sees less
        request.state.login_refusal = None
        return False
    return _may_view(request, username)


def enforce(request: Request) -> None:
    """The app-wide dependency: record a refusal for a caller the route's need excludes."""
    endpoint = request.scope.get("endpoint")
    need = request.app.state.access.get((endpoint, request.method))
    if need is None:  # not declared: refuse (install makes this unreachable)
        request.state.login_refusal = LoginRefusal(403, "Forbidden", "Permission Denied")
        return
    if need in (Need.PUBLIC, Need.PUBLIC_REDACTED):
        return
    username = identify(request)  # no identity: the refusal is recorded
    if not username or need is Need.IDENTITY:
        return
    if need is Need.SELF_OR_VIEW and request.path_params.get("username") == username:
        return
    if not _may_view(request, username):
        request.state.login_refusal = LoginRefusal(
            403, "Forbidden", "Permission Denied", exception=NOT_ALLOWED
        )
