"""OpenID Connect (Auth0) access tokens: who a verified JWT names, as Balrog decides it.

Balrog's admin app (``auslib/util/auth.py``, ``web/admin/views/base.py``)
verifies an Auth0 RS256 token against the tenant's JWKS, audience and issuer,
then names the caller by the ``email`` of the token or, for a person, of the
tenant's ``/userinfo`` answer (cached), and names a machine token
(client credentials: a ``gty`` claim, its ``sub`` ending in ``@clients``) by
its client id, mapped to an account by configuration (``M2M_ACCOUNT_MAPPING``).

rulelog does the same, with two refusals Balrog lacks, so that an OIDC
identity can never act as a local account by accident (issue 17):

* a machine token whose client id is not in ``RULELOG_AUTH0_MACHINE_ACCOUNTS``
  is refused, instead of acting as a user named like its client id;
* a person is named only by an e-mail address (it must contain ``@``) that the
  provider has not marked unverified (``email_verified: false`` is refused).

Local users named without ``@`` are thus reachable from OIDC only through the
explicit machine mapping. Every refusal is an ``AuthError`` (401) with
Balrog's codes.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rulelog.api.auth_errors import AuthError

if TYPE_CHECKING:
    from rulelog.api.settings import Settings

__all__ = ["JwtSettings", "JwtVerifier"]

#: Tokens whose userinfo answer is remembered (Balrog's cache holds 2048 too).
USERINFO_CACHE = 2048
USERINFO_TIMEOUT = 5.0
USERINFO_MAX_BYTES = 64 * 1024


@dataclass(frozen=True)
class JwtSettings:
    """An OIDC provider's tokens accepted besides rulelog's own."""

    issuer: str
    audience: str
    jwks: str  #: a https:// URL or a path to a JWKS JSON file
    email_claim: str = "email"
    algorithms: tuple[str, ...] = ("RS256",)
    #: The provider's userinfo endpoint, asked for a person's e-mail a token lacks.
    userinfo: str | None = None
    #: Machine (client-credentials) client ids -> the account each acts as.
    machine_accounts: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> JwtSettings | None:
        """From ``RULELOG_JWT_*`` / ``RULELOG_AUTH0_*``; None when OIDC is not configured."""
        from rulelog.api.settings import load_settings

        return cls.from_settings(load_settings(env))

    @classmethod
    def from_settings(cls, settings: Settings) -> JwtSettings | None:
        """The provider ``settings`` names (validated, with Auth0's defaults filled in)."""
        urls = settings.jwt_urls()
        if urls is None:
            return None
        issuer, audience, jwks, userinfo = urls
        return cls(
            issuer=issuer,
            audience=audience,
            jwks=jwks,
            email_claim=settings.jwt_email_claim,
            userinfo=userinfo,
            machine_accounts=settings.machine_accounts(),
        )


class _Userinfo:
    """The provider's ``/userinfo`` answers, one request per token (bounded cache)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._lock = threading.Lock()
        self._answers: OrderedDict[str, tuple[float, dict[str, Any]]] = OrderedDict()
        self.requests = 0  #: how many times the endpoint was asked (tests read it)

    def claims(self, token: str, expires: float) -> dict[str, Any]:
        with self._lock:
            cached = self._answers.get(token)
            if cached is not None and cached[0] > time.time():
                self._answers.move_to_end(token)
                return cached[1]
        answer = self._ask(token)
        with self._lock:
            self._answers[token] = (expires, answer)
            while len(self._answers) > USERINFO_CACHE:
                self._answers.popitem(last=False)
        return answer

    def _ask(self, token: str) -> dict[str, Any]:
        request = urllib.request.Request(self.url, headers={"Authorization": f"Bearer {token}"})
        self.requests += 1
        try:
            with urllib.request.urlopen(request, timeout=USERINFO_TIMEOUT) as response:
                answer = json.loads(response.read(USERINFO_MAX_BYTES))
        except (OSError, ValueError, urllib.error.URLError):
            answer = None
        if not isinstance(answer, dict):
            raise AuthError(
                "incomplete_validation", "couldn't find additional userinfo from access token"
            )
        return answer


class JwtVerifier:
    def __init__(self, settings: JwtSettings) -> None:
        import jwt  # only deployments that configure OIDC need it loaded

        self._jwt = jwt
        self.settings = settings
        self.userinfo = _Userinfo(settings.userinfo) if settings.userinfo else None
        if settings.jwks.startswith(("https://", "http://")):
            self._client: Any = jwt.PyJWKClient(settings.jwks, cache_keys=True, lifespan=3600)
            self._keys: Any = None
        else:
            self._client = None
            self._keys = jwt.PyJWKSet.from_json(Path(settings.jwks).read_text(encoding="utf-8"))

    def _key(self, token: str) -> Any:
        jwt = self._jwt
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            header = None
        if not isinstance(header, dict) or header.get("alg") not in self.settings.algorithms:
            raise AuthError(
                "invalid_header", "Invalid header. Use an RS256 signed JWT Access Token"
            )
        try:
            if self._client is not None:
                return self._client.get_signing_key_from_jwt(token).key
        except jwt.PyJWTError:
            raise AuthError("invalid_key", "Unable to find RSA key.") from None
        for key in self._keys.keys:
            if key.key_id == header.get("kid"):
                return key.key
        raise AuthError("invalid_key", "Unable to find RSA key.")

    def _claims(self, token: str) -> dict[str, Any]:
        jwt = self._jwt
        try:
            return jwt.decode(
                token,
                self._key(token),
                algorithms=list(self.settings.algorithms),
                audience=self.settings.audience,
                issuer=self.settings.issuer,
                options={"require": ["exp", "iss", "aud"]},
            )
        except jwt.ExpiredSignatureError:
            raise AuthError("token_expired", "token is expired") from None
        except (jwt.InvalidAudienceError, jwt.InvalidIssuerError, jwt.MissingRequiredClaimError):
            raise AuthError(
                "invalid_claims", "incorrect claims, please check the audience and issuer"
            ) from None
        except (jwt.PyJWTError, ValueError):
            raise AuthError(
                "invalid_token", "token rejected: invalid signature or format"
            ) from None

    def identify(self, token: str) -> str:
        """The account a verified token acts as (see the module's docstring)."""
        claims = self._claims(token)
        sub = claims.get("sub")
        if "gty" in claims or (isinstance(sub, str) and sub.endswith("@clients")):
            client = claims.get("azp") or (sub.removesuffix("@clients") if sub else None)
            account = (
                self.settings.machine_accounts.get(client) if isinstance(client, str) else None
            )
            if account is None:
                raise AuthError("unknown_client", "this machine client is mapped to no account")
            return account
        found = dict(claims)
        if not found.get(self.settings.email_claim) and self.userinfo is not None:
            found.update(self.userinfo.claims(token, float(claims["exp"])))
        email = found.get(self.settings.email_claim)
        if not isinstance(email, str) or "@" not in email or len(email) > 254:
            raise AuthError("no_email", "no email address found in access or id tokens")
        if found.get("email_verified") is False:
            raise AuthError("email_unverified", "the provider has not verified this email")
        return email
