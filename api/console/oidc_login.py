"""Signing in to the console at the OIDC provider (Auth0, or any with discovery).

With ``RULELOG_CONSOLE_OIDC_CLIENT_ID`` set next to the provider the admin
API already trusts (``RULELOG_JWT_*`` / ``RULELOG_AUTH0_*``), ``/ui/signin``
offers it: the authorization code flow with PKCE, as a public client (no
secret). ``/ui/oidc/login`` sends the browser to the provider's
authorization endpoint (from its discovery document) with a random
``state`` and code challenge kept in a short-lived cookie; the provider
sends it back to ``/ui/oidc/callback``, where the code is exchanged for an
access token, which is checked exactly as a pasted one (the API's
``Authenticator``) and kept in the same sign-in cookie.

The state cookie is ``SameSite=Lax``: the provider's redirect back is a
cross-site navigation, which a ``Strict`` cookie would not come back with.
For the same reason the callback answers a page that moves on to the
console itself (a ``Strict`` cookie is sent again from there).
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import urllib.parse
import urllib.request
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from rulelog.api.auth import AuthError
from rulelog.api.console.render import CSP
from rulelog.api.console.session import PREFIX, ConsoleRefusal
from rulelog.api.console.signin import keep_token

router = APIRouter()

STATE_COOKIE = "rulelog_oidc"
#: The provider must answer within this long (discovery and the code exchange).
TIMEOUT_SECONDS = 10
#: How long a sign-in at the provider may take before its state is forgotten.
STATE_SECONDS = 600

ONWARD = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta http-equiv="refresh" content="0;url={to}"><title>Signed in</title></head>
<body><p>Signed in. <a href="{to}">Continue to the console</a>.</p></body></html>"""


def client_of(request: Request) -> tuple[str, Any]:
    """(client id, the provider's JWT settings), or a 404 when sign-in there is not set up."""
    settings = request.app.state.settings
    client_id = getattr(settings, "console_oidc_client_id", None)
    if not client_id or settings.jwt is None:
        raise ConsoleRefusal(404, "Signing in at an OIDC provider is not configured here.")
    return client_id, settings.jwt


def _fetch(url: str, data: dict[str, str] | None = None) -> dict[str, Any]:
    body = urllib.parse.urlencode(data).encode() if data is not None else None
    try:
        with urllib.request.urlopen(url, body, timeout=TIMEOUT_SECONDS) as answer:
            found = json.loads(answer.read())
    except (OSError, ValueError) as error:
        raise ConsoleRefusal(502, f"The OIDC provider did not answer: {error}") from None
    if not isinstance(found, dict):
        raise ConsoleRefusal(502, "The OIDC provider answered something other than an object.")
    return found


def _discovery(issuer: str) -> dict[str, Any]:
    return _fetch(issuer.rstrip("/") + "/.well-known/openid-configuration")


def _callback_url(request: Request) -> str:
    return str(request.url_for("oidc_callback"))


def _challenge(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


@router.get("/oidc/login", summary="Sign in at the OIDC provider")
def oidc_login(request: Request) -> Response:
    client_id, jwt = client_of(request)
    state, verifier = secrets.token_urlsafe(24), secrets.token_urlsafe(48)
    query = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": _callback_url(request),
        "scope": "openid email profile",
        "audience": jwt.audience,  # Auth0: an access token for the admin API
        "state": state,
        "code_challenge": _challenge(verifier),
        "code_challenge_method": "S256",
    }
    endpoint = _discovery(jwt.issuer)["authorization_endpoint"]
    response = RedirectResponse(f"{endpoint}?{urllib.parse.urlencode(query)}", status_code=303)
    response.set_cookie(
        STATE_COOKIE,
        f"{state}.{verifier}",
        max_age=STATE_SECONDS,
        path=PREFIX + "/oidc",
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
    )
    return response


@router.get("/oidc/callback", summary="Back from the OIDC provider")
def oidc_callback(request: Request, code: str = "", state: str = "") -> Response:
    client_id, jwt = client_of(request)
    expected, _, verifier = request.cookies.get(STATE_COOKIE, "").partition(".")
    if not code or not expected or not secrets.compare_digest(expected, state):
        raise ConsoleRefusal(403, "This sign-in was not started here (its state does not match).")
    tokens = _fetch(
        _discovery(jwt.issuer)["token_endpoint"],
        {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": _callback_url(request),
            "client_id": client_id,
            "code_verifier": verifier,
        },
    )
    token = str(tokens.get("access_token", ""))
    try:
        request.app.state.auth.identify_user(f"Bearer {token}")
    except AuthError as error:
        reason = error.error.get("description", "invalid")
        raise ConsoleRefusal(401, f"The provider's token was not accepted: {reason}.") from None
    response = HTMLResponse(ONWARD.format(to=PREFIX + "/rules"))
    response.headers["content-security-policy"] = CSP
    response.delete_cookie(STATE_COOKIE, path=PREFIX + "/oidc")
    return keep_token(request, response, token)
