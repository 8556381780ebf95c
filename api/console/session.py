"""Who is using the console, and proof that a form was sent from one of its pages.

Sign-in keeps the pasted API token in an ``HttpOnly``, ``SameSite=Strict``
cookie scoped to ``/ui``. ``CookieAuth`` turns that cookie into the
``Authorization: Bearer`` header the admin API reads, so the console is
identified by exactly the code the API uses (``api.admin.deps.identify``)
and checks nothing of its own. A caller that sends the header itself (a
script) is taken as it is.

CSRF: the double-submit pattern. Every page sets a random ``rulelog_csrf``
cookie (``SameSite=Strict`` as well) and puts its value in each form; a POST
is refused with 403 unless the form carries the cookie's value. A post whose
``Authorization`` header came from the client, not from the cookie, needs no
token: a browser never adds that header to a cross-site request.
"""

from __future__ import annotations

import hmac
import secrets
from typing import Annotated
from urllib.parse import parse_qsl

from fastapi import Depends, Request
from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = [
    "CSRF_COOKIE",
    "TOKEN_COOKIE",
    "ConsoleRefusal",
    "CookieAuth",
    "FormData",
    "csrf_of",
    "data_version_of",
    "read_form",
]

TOKEN_COOKIE = "rulelog_token"
CSRF_COOKIE = "rulelog_csrf"
#: Where the console lives; the cookies are sent nowhere else.
PREFIX = "/ui"
#: Scope key set when the Authorization header was made from the cookie.
FROM_COOKIE = "rulelog.console_cookie"
#: A form is small: a rule, a few fields; anything longer is refused.
FORM_MAX_BYTES = 64 * 1024


class ConsoleRefusal(Exception):
    """A request the console answers with an error page (status, one readable line)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _cookie(scope: Scope, name: str) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == b"cookie":
            for part in value.decode("latin-1").split(";"):
                found, _, content = part.strip().partition("=")
                if found == name and content:
                    return content
    return None


class CookieAuth:
    """For ``/ui`` requests without ``Authorization``: the signed-in cookie's token as one."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope.get("path", "").startswith(PREFIX):
            headers = scope.get("headers", [])
            if not any(key == b"authorization" for key, _ in headers):
                token = _cookie(scope, TOKEN_COOKIE)
                if token and token.isascii():
                    scope = {
                        **scope,
                        "headers": [*headers, (b"authorization", f"Bearer {token}".encode())],
                        FROM_COOKIE: True,
                    }
        await self.app(scope, receive, send)


def csrf_of(request: Request) -> str:
    """This browser's CSRF token: its cookie's, or a new one (set by the page answer)."""
    known = getattr(request.state, "csrf", None)
    if known is None:
        known = request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(24)
        request.state.csrf = known
    return known


def _needs_csrf(request: Request) -> bool:
    """Forms from a browser do (its cookie authenticates, or none does); scripts don't."""
    return bool(request.scope.get(FROM_COOKIE)) or "authorization" not in request.headers


async def read_form(request: Request) -> dict[str, str]:
    """The posted form (urlencoded), its CSRF token checked; 403 for a forged post."""
    body = await request.body()
    if len(body) > FORM_MAX_BYTES:
        raise ConsoleRefusal(413, "The form is too large.")
    try:
        fields = dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
    except UnicodeDecodeError:
        raise ConsoleRefusal(400, "The form is not UTF-8.") from None
    if _needs_csrf(request):
        cookie = request.cookies.get(CSRF_COOKIE, "")
        given = fields.get("csrf", "")
        if not cookie or not hmac.compare_digest(cookie.encode(), given.encode()):
            raise ConsoleRefusal(
                403, "This form was not sent from a console page (CSRF check failed)."
            )
    fields.pop("csrf", None)
    return fields


FormData = Annotated[dict[str, str], Depends(read_form)]


def data_version_of(form: dict[str, str]) -> int:
    """The ``data_version`` a form carries (the row as the page showed it)."""
    value = form.get("data_version", "")
    if not value.isdigit():
        raise ConsoleRefusal(400, "data_version: missing; reload the page")
    return int(value)
