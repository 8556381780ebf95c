"""``/ui/signin`` and ``/ui/signout``: the token kept in a cookie, or forgotten
(and ``/ui`` itself, which leads to the rules).

The token is checked by the admin API's ``Authenticator`` before it is
kept, so a mistyped one is said at once rather than on the first command.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from rulelog.api.auth import AuthError
from rulelog.api.console.render import page, redirect
from rulelog.api.console.session import PREFIX, TOKEN_COOKIE, FormData

router = APIRouter()

#: A session lasts a working day; the token itself may be revoked sooner.
COOKIE_SECONDS = 12 * 3600


def _next(target: str | None) -> str:
    """Where to go after signing in: a console page only (no open redirect)."""
    if target and target.startswith(PREFIX + "/") and not target.startswith("//"):
        return target
    return PREFIX + "/rules"


@router.get("", summary="The console's first page")
@router.get("/", summary="The console's first page")
def home(request: Request) -> Response:
    return redirect(request, PREFIX + "/rules")


@router.get("/signin", summary="Sign-in page")
def signin_page(request: Request, next: str | None = None) -> Response:
    oidc = bool(getattr(request.app.state.settings, "console_oidc_client_id", None))
    return page(request, "signin.html", next=_next(next), message=None, oidc=oidc)


@router.post("/signin", summary="Sign in with an API token")
def signin(request: Request, form: FormData) -> Response:
    token = form.get("token", "").strip()
    try:
        username, _ = request.app.state.auth.identify_user(f"Bearer {token}")
    except AuthError as error:
        message = f"That token was not accepted: {error.error.get('description', 'invalid')}."
        target = _next(form.get("next"))
        return page(request, "signin.html", status=401, next=target, message=message)
    request.state.caller = username
    return keep_token(request, redirect(request, _next(form.get("next"))), token)


def keep_token(request: Request, response: Response, token: str) -> Response:
    """``response``, setting the sign-in cookie to ``token`` (checked by the caller)."""
    response.set_cookie(
        TOKEN_COOKIE,
        token,
        max_age=COOKIE_SECONDS,
        path=PREFIX,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


@router.post("/signout", summary="Sign out")
def signout(request: Request, form: FormData) -> Response:
    response = redirect(request, PREFIX + "/rules")
    response.delete_cookie(TOKEN_COOKIE, path=PREFIX)
    return response
