"""Who is calling the admin API: bearer tokens, and optionally OIDC JWTs.

Balrog reads ``Authorization: Bearer TOKEN`` and verifies an Auth0 JWT. rulelog
accepts its own API tokens (``rulelog tokens create``; checked against the
stored hash) and, when configured, JWTs from an OpenID Connect provider
(issuer, audience and JWKS from a URL or a file) whose verified ``email``
claim -- or, for machine tokens without one, ``azp``/``sub`` -- names the
user. An identity says who acts; what they may do is their permissions'.

Failures raise ``AuthError`` with Balrog's shape of reason (``code``,
``description``), answered as 401.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from api.settings import Settings, load_settings
from domain.application import RulelogApp
from domain.tokens import PREFIX
from domain.users import User

__all__ = ["AuthError", "Authenticator", "JwtSettings"]


class AuthError(Exception):
    def __init__(self, code: str, description: str) -> None:
        super().__init__(description)
        self.error = {"code": code, "description": description}


@dataclass(frozen=True)
class JwtSettings:
    """An OIDC provider's tokens accepted besides rulelog's own."""

    issuer: str
    audience: str
    jwks: str  #: a https:// URL or a path to a JWKS JSON file
    email_claim: str = "email"
    algorithms: tuple[str, ...] = ("RS256",)

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> JwtSettings | None:
        return cls.from_settings(load_settings(env))

    @classmethod
    def from_settings(cls, settings: Settings) -> JwtSettings | None:
        """The ``RULELOG_JWT_*`` settings (validated together by ``Settings``), if set."""
        if not settings.jwt_issuer:
            return None
        assert settings.jwt_audience and settings.jwt_jwks  # Settings refuses them missing
        return cls(
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
            jwks=settings.jwt_jwks,
            email_claim=settings.jwt_email_claim,
        )


class _JwtVerifier:
    def __init__(self, settings: JwtSettings) -> None:
        import jwt  # only deployments that configure OIDC need it loaded

        self._jwt = jwt
        self.settings = settings
        if settings.jwks.startswith(("https://", "http://")):
            self._client: Any = jwt.PyJWKClient(settings.jwks, cache_keys=True, lifespan=3600)
            self._keys: Any = None
        else:
            self._client = None
            self._keys = jwt.PyJWKSet.from_json(Path(settings.jwks).read_text(encoding="utf-8"))

    def _key(self, token: str) -> Any:
        if self._client is not None:
            return self._client.get_signing_key_from_jwt(token).key
        kid = self._jwt.get_unverified_header(token).get("kid")
        for key in self._keys.keys:
            if key.key_id == kid:
                return key.key
        raise self._jwt.InvalidTokenError(f"no key {kid!r} in the JWKS")

    def identify(self, token: str) -> str:
        jwt = self._jwt
        try:
            claims = jwt.decode(
                token,
                self._key(token),
                algorithms=list(self.settings.algorithms),
                audience=self.settings.audience,
                issuer=self.settings.issuer,
                options={"require": ["exp", "iss", "aud"]},
            )
        except (jwt.PyJWTError, ValueError, json.JSONDecodeError) as error:
            raise AuthError("invalid_token", f"token rejected: {error}") from None
        name = claims.get(self.settings.email_claim) or claims.get("azp") or claims.get("sub")
        if not isinstance(name, str) or not name:
            raise AuthError("invalid_claims", "the token names no user (email, azp or sub)")
        return name


class Authenticator:
    """Turns an ``Authorization`` header into a username, or raises AuthError."""

    def __init__(self, service: RulelogApp, jwt: JwtSettings | None = None) -> None:
        self.service = service
        self._jwt = _JwtVerifier(jwt) if jwt is not None else None

    def identify(self, authorization: str | None) -> str:
        return self.identify_user(authorization)[0]

    def identify_user(self, authorization: str | None) -> tuple[str, User | None]:
        """The username and their ``User`` (None when they hold nothing yet)."""
        token = self._bearer(authorization)
        if token.startswith(PREFIX + "_") or self._jwt is None:
            found = self.service.authenticate_user(token)
            if found is None:
                raise AuthError("invalid_token", "unknown or revoked token")
            return found
        name = self._jwt.identify(token)
        return name, self.service.user(name)

    @staticmethod
    def _bearer(authorization: str | None) -> str:
        if not authorization:
            raise AuthError("authorization_header_missing", "Authorization header is expected")
        parts = authorization.split()
        if parts[0].lower() != "bearer":
            raise AuthError("invalid_header", "Authorization header must start with Bearer")
        if len(parts) == 1:
            raise AuthError("invalid_header", "Token not found")
        if len(parts) > 2:
            raise AuthError("invalid_header", "Authorization header must be Bearer token")
        return parts[1]
