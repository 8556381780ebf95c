"""Who is signed in, and which actions to offer them.

Identification is the admin API's own (``api.admin.deps.identify``: tokens,
OIDC, Balrog's refusal of an e-mail identity holding nothing). What to
offer is asked of the service's own permission check (``require``) with the
product in question; the commands check again when the form is posted, so a
control left out here is a courtesy, never the protection.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request

from rulelog.api.admin.deps import identify
from rulelog.api.console.session import ConsoleRefusal
from rulelog.domain.errors import PermissionDenied

__all__ = ["is_admin", "may", "roles_of", "signed_in", "who"]


def who(request: Request) -> str:
    """The signed-in username, or "" (a reader: pages are public, as Balrog's GETs)."""
    if "authorization" not in request.headers:
        return ""
    username = identify(request)
    request.state.login_refusal = None  # a page read is not refused for a bad token
    return username


def signed_in(request: Request) -> str:
    """The username for a command; a 401 page (with the way to sign in) without one."""
    username = who(request)
    if not username:
        raise ConsoleRefusal(401, "Sign in to do this: your session has ended or never began.")
    return username


def may(request: Request, change: str, product: str | None = None) -> bool:
    """Whether the signed-in user holds ``change`` (e.g. ``rule.modify``) for ``product``."""
    username = getattr(request.state, "caller", "") or ""
    if not username:
        return False
    try:
        request.app.state.service.require(
            username, change, current_product=product, new_product=product
        )
    except PermissionDenied:
        return False
    return True


def is_admin(request: Request) -> bool:
    """Whether the signed-in user is an admin for every product (the service's check)."""
    username = getattr(request.state, "caller", "") or ""
    try:
        request.app.state.service.require_admin(username, "see admin actions")
    except PermissionDenied:
        return False
    return bool(username)


def roles_of(state: Any, username: str) -> list[str]:
    """The roles ``username`` holds in ``state`` (what they may sign off as)."""
    return sorted((state.users.get(username) or {}).get("roles") or {})
