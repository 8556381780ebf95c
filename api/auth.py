"""Who is calling the admin API: bearer tokens, and optionally OIDC (Auth0) JWTs.

Balrog reads ``Authorization: Bearer TOKEN`` and verifies an Auth0 JWT. rulelog
accepts its own API tokens (``rulelog tokens create``; checked against the
stored hash) and, when configured, JWTs from an OpenID Connect provider, named
as Balrog names them (``api.oidc``). An identity says who acts; what they may
do is their permissions'.

The header is read strictly: ASCII, ``Bearer``, one space-separated token.
Python's ``str.split()`` also splits on Unicode spaces, so Balrog's reading
took ``Bearer<U+00A0>TOKEN`` and failed on a header of one ``<U+00A0>``.

Failures raise ``AuthError`` with Balrog's shape of reason (``code``,
``description``), answered as 401.
"""

from __future__ import annotations

import re

from rulelog.api.auth_errors import AuthError
from rulelog.api.oidc import JwtSettings, JwtVerifier
from rulelog.domain.access.tokens import PREFIX
from rulelog.domain.access.users import User
from rulelog.services.application import RulelogApp

__all__ = ["AuthError", "Authenticator", "JwtSettings"]

#: What a bearer token may consist of (RFC 6750's b64token, and JWT dots).
_TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")
#: Longest header read; a JWT with many claims is a few KB.
AUTHORIZATION_MAX = 16 * 1024


class Authenticator:
    """Turns an ``Authorization`` header into a username, or raises AuthError."""

    def __init__(self, service: RulelogApp, jwt: JwtSettings | None = None) -> None:
        self.service = service
        self._jwt = JwtVerifier(jwt) if jwt is not None else None

    @property
    def oidc(self) -> JwtVerifier | None:
        return self._jwt

    def identify(self, authorization: str | None) -> str:
        return self.identify_user(authorization)[0]

    def identify_user(self, authorization: str | None) -> tuple[str, User | None]:
        """The username and their ``User`` (None when they hold nothing yet)."""
        token = bearer_token(authorization)
        if token.startswith(PREFIX + "_") or self._jwt is None:
            found = self.service.authenticate_user(token)
            if found is None:
                raise AuthError("invalid_token", "unknown or revoked token")
            return found
        name = self._jwt.identify(token)
        return name, self.service.user(name)


def bearer_token(authorization: str | None) -> str:
    """The token of ``Bearer TOKEN``, with Balrog's codes for each way to get it wrong."""
    if not authorization or not authorization.strip(" \t"):
        raise AuthError("authorization_header_missing", "Authorization header is expected")
    if len(authorization) > AUTHORIZATION_MAX or not authorization.isascii():
        raise AuthError("invalid_header", "Authorization header must be Bearer token")
    parts = [part for part in re.split(r"[ \t]+", authorization) if part]
    if parts[0].lower() != "bearer":
        raise AuthError("invalid_header", "Authorization header must start with Bearer")
    if len(parts) == 1:
        raise AuthError("invalid_header", "Token not found")
    if len(parts) > 2 or not _TOKEN.fullmatch(parts[1]):
        raise AuthError("invalid_header", "Authorization header must be Bearer token")
    return parts[1]
