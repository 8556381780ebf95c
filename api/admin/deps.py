"""What admin handlers take as parameters: the service, the reader, the caller.

``Actor`` is the verified identity (401 without one) and is what every
command records as ``changed_by``. As in Balrog, a person's identity (an
e-mail address) that holds no permission and no role is refused outright
(403 "Authorization Required"): a valid token is not by itself a licence to
write. Other identities (Balrog's machine accounts, named without ``@``) go on
to the route, whose own permission check names what they may not do.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from rulelog.api.admin.problems import LoginRefusal, Problem
from rulelog.api.admin.reading import CatalogReader
from rulelog.api.auth import Authenticator, AuthError
from rulelog.services.application import RulelogApp

#: Declares the bearer scheme in the OpenAPI document; the header is checked by ``actor``.
bearer = HTTPBearer(auto_error=False, description="A rulelog API token or an OIDC JWT.")


class _AfterLogin:
    """The service or reader, refusing an unidentified caller on first use.

    Balrog validates a request against its schema before its login check, so
    a bad body or query without a valid token is a 400, not a 401: ``actor``
    records the refusal instead of raising it, and the handler meets it at the
    first lookup or command, after its own request validation (a handler's
    other refusals before that give way to it: ``problems.install``).
    """

    __slots__ = ("_request", "_target")

    def __init__(self, target: object, request: Request) -> None:
        self._target = target
        self._request = request

    def __getattr__(self, name: str) -> Any:
        refusal: LoginRefusal | None = getattr(self._request.state, "login_refusal", None)
        if refusal is not None and name != "now":  # reading the clock reveals nothing
            raise refusal.error()
        return getattr(self._target, name)


# ``async`` where nothing blocks: FastAPI runs a sync dependency in a worker thread.
async def service(request: Request) -> RulelogApp:
    return _AfterLogin(request.app.state.service, request)  # type: ignore[return-value]


async def reader(request: Request) -> CatalogReader:
    return _AfterLogin(request.app.state.reader, request)  # type: ignore[return-value]


def identify(request: Request) -> str:
    """The caller's username, once per request; "" with the refusal recorded if none."""
    known: str | None = getattr(request.state, "caller", None)
    if known is not None:
        return known
    authenticator: Authenticator = request.app.state.auth
    request.state.caller = ""
    try:
        username, user = authenticator.identify_user(request.headers.get("authorization"))
        known_user = user is not None and bool(user.permissions or user.roles)
        if "@" in username and not known_user:
            raise Problem(403, "Authorization Required", title="Forbidden")
    except (AuthError, Problem) as refusal:
        # raised by the service or reader, see above; a plain value, see LoginRefusal
        request.state.login_refusal = LoginRefusal.of(refusal)
        return ""
    request.scope.setdefault("rulelog.log", {})["user"] = username
    request.state.caller = username
    return username


def actor(
    request: Request,
    credentials: HTTPAuthorizationCredentials | None = Security(bearer),
) -> str:
    return identify(request)


Service = Annotated[RulelogApp, Depends(service)]
Reader = Annotated[CatalogReader, Depends(reader)]
Actor = Annotated[str, Depends(actor)]
