"""What admin handlers take as parameters: the service, the reader, the caller.

``Actor`` is the verified identity (401 without one) and is what every
command records as ``changed_by``. As in Balrog, a person's identity (an
e-mail address) that holds no permission and no role is refused outright
(403 "Authorization Required"): a valid token is not by itself a licence to
write. Other identities (Balrog's machine accounts, named without ``@``) go on
to the route, whose own permission check names what they may not do.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.admin.problems import Problem
from api.admin.reading import CatalogReader
from api.auth import Authenticator
from domain.application import RulelogApp

#: Declares the bearer scheme in the OpenAPI document; the header is checked by ``actor``.
bearer = HTTPBearer(auto_error=False, description="A rulelog API token or an OIDC JWT.")


# ``async`` where nothing blocks: FastAPI runs a sync dependency in a worker thread.
async def service(request: Request) -> RulelogApp:
    return request.app.state.service


async def reader(request: Request) -> CatalogReader:
    return request.app.state.reader


def actor(
    request: Request,
    credentials: HTTPAuthorizationCredentials | None = Security(bearer),
) -> str:
    authenticator: Authenticator = request.app.state.auth
    username, user = authenticator.identify_user(request.headers.get("authorization"))
    known = user is not None and bool(user.permissions or user.roles)
    if "@" in username and not known:
        raise Problem(403, "Authorization Required", title="Forbidden")
    request.scope.setdefault("rulelog.log", {})["user"] = username
    return username


Service = Annotated[RulelogApp, Depends(service)]
Reader = Annotated[CatalogReader, Depends(reader)]
Actor = Annotated[str, Depends(actor)]
