"""A stand-in OIDC provider (Auth0-like) for the admin server's tests.

It serves its JWKS, a ``/userinfo`` endpoint, a discovery document and the
authorization code flow (``/authorize`` signs in at once as ``login_claims``;
``/oauth/token`` checks the PKCE verifier) over real HTTP from a thread
of the test process, signs tokens with a key generated per session, and
counts userinfo requests, so tests can see the cache at work.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from rulelog.api.auth import Authenticator, JwtSettings
from tests.e2e.conftest import AdminServer
from tests.stub_http import JsonHandler, StubServer, running

AUDIENCE = "rulelog-admin"


class Provider(StubServer):
    def __init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key()))
        self.jwks = {"keys": [{**jwk, "kid": "k1", "use": "sig", "alg": "RS256"}]}
        #: access token -> the claims /userinfo answers for it
        self.userinfo: dict[str, dict[str, Any]] = {}
        self.userinfo_requests = 0
        #: The claims of whoever signs in at /authorize; the codes handed out, by code.
        self.login_claims: dict[str, Any] = {}
        self.codes: dict[str, dict[str, str]] = {}
        provider = self

        class Handler(JsonHandler):
            def do_GET(self) -> None:
                path, _, query = self.path.partition("?")
                if self.path == "/.well-known/jwks.json":
                    self.send_json(200, provider.jwks)
                elif path == "/.well-known/openid-configuration":
                    self.send_json(200, provider.discovery)
                elif path == "/authorize":  # the person signs in at once, as login_claims
                    asked = dict(urllib.parse.parse_qsl(query))
                    provider.codes[code := f"code-{len(provider.codes)}"] = asked
                    back = {"code": code, "state": asked.get("state", "")}
                    self.send_response(302)
                    target = f"{asked['redirect_uri']}?{urllib.parse.urlencode(back)}"
                    self.send_header("Location", target)
                    self.end_headers()
                elif self.path == "/userinfo":
                    provider.userinfo_requests += 1
                    token = self.headers.get("Authorization", "").removeprefix("Bearer ")
                    claims = provider.userinfo.get(token)
                    self.send_json(200 if claims else 401, claims or {"error": "unknown"})
                else:
                    self.send_json(404, {})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                form = dict(urllib.parse.parse_qsl(self.rfile.read(length).decode()))
                asked = provider.codes.pop(form.get("code", ""), None)
                verifier = form.get("code_verifier", "").encode()
                challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier).digest())
                if self.path != "/oauth/token" or asked is None or (
                    challenge.rstrip(b"=").decode() != asked.get("code_challenge")
                ):
                    self.send_json(400, {"error": "invalid_grant"})
                    return
                self.send_json(200, {"access_token": provider.token(**provider.login_claims)})

        self.serve(Handler)
        self.base = f"http://127.0.0.1:{self.port}/"

    @property
    def discovery(self) -> dict[str, str]:
        return {
            "issuer": self.base,
            "authorization_endpoint": f"{self.base}authorize",
            "token_endpoint": f"{self.base}oauth/token",
            "jwks_uri": f"{self.base}.well-known/jwks.json",
        }

    @property
    def settings(self) -> JwtSettings:
        return JwtSettings(
            issuer=self.base,
            audience=AUDIENCE,
            jwks=f"{self.base}.well-known/jwks.json",
            userinfo=f"{self.base}userinfo",
            machine_accounts={"AgentClient1": "balrogagent"},
        )

    def token(self, *, key: Any = None, kid: str = "k1", **claims: Any) -> str:
        base = {"iss": self.base, "aud": AUDIENCE, "exp": int(time.time()) + 600, "sub": "x"}
        return jwt.encode(
            {**base, **claims}, key or self.key, algorithm="RS256", headers={"kid": kid}
        )


@pytest.fixture(scope="module", name="provider")
def provider_fixture() -> Iterator[Provider]:
    """A stand-in provider for a test module (import it into the module to use it)."""
    yield from running(Provider())


@contextmanager
def oidc_on(server: AdminServer, settings: JwtSettings) -> Iterator[None]:
    """The admin server accepts the provider's tokens for the duration."""
    state = server.app.state
    previous = state.auth
    state.auth = Authenticator(state.service, settings)
    state.settings = replace(state.settings, jwt=settings)
    try:
        yield
    finally:
        state.auth = previous
        state.settings = replace(state.settings, jwt=None)
