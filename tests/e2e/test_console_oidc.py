"""Signing in to the console at an OIDC provider: the authorization code flow with PKCE.

Against the stand-in provider of the Auth0 tests (``oidc_support``), whose
``/authorize`` signs the person in at once; each hop is a real HTTP request,
followed here by hand so every redirect and cookie is seen.
"""

from __future__ import annotations

import http.client
import re
from collections.abc import Iterator
from dataclasses import replace
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.e2e.conftest import AdminClient, AdminServer, Answer
from tests.e2e.oidc_support import Provider, oidc_on, provider_fixture  # noqa: F401

PERSON = "relman@example.com"


@pytest.fixture
def oidc(admin: AdminClient, admin_server: AdminServer, provider: Provider) -> Iterator[Provider]:
    admin.service.grant_permission(PERSON, "rule", {"products": ["Firefox"]}, "alice")
    provider.login_claims = {"sub": "auth0|7", "email": PERSON}
    with oidc_on(admin_server, provider.settings):
        state = admin_server.app.state
        state.settings = replace(state.settings, console_oidc_client_id="console-client")
        try:
            yield provider
        finally:
            state.settings = replace(state.settings, console_oidc_client_id=None)


def _get(url: str, cookie: str = "") -> Answer:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        conn.request("GET", target, headers={"Cookie": cookie} if cookie else {})
        response = conn.getresponse()
        return Answer(response.status, response.read(), response.headers)
    finally:
        conn.close()


def _cookie(answer: Answer, name: str) -> str:
    for header in answer.headers.get_all("Set-Cookie") or []:
        found = re.match(rf"{name}=([^;]+)", header)
        if found:
            return f"{name}={found.group(1)}"
    raise AssertionError(f"no {name} cookie in {answer.headers.get_all('Set-Cookie')}")


def test_a_person_signs_in_at_the_provider(oidc: Provider, admin: AdminClient) -> None:
    base = f"http://127.0.0.1:{admin.port}"
    assert 'id="oidc-sign-in"' in _get(f"{base}/ui/signin").text
    start = _get(f"{base}/ui/oidc/login")
    assert start.status == 303
    state_cookie = _cookie(start, "rulelog_oidc")
    assert "SameSite=lax" in start.headers["Set-Cookie"]
    asked = parse_qs(urlsplit(start.headers["Location"]).query)
    assert asked["code_challenge_method"] == ["S256"] and asked["client_id"] == ["console-client"]
    at_provider = _get(start.headers["Location"])
    assert at_provider.status == 302
    back = _get(at_provider.headers["Location"], state_cookie)
    assert back.status == 200 and "/ui/rules" in back.text
    token_cookie = _cookie(back, "rulelog_token")
    page = _get(f"{base}/ui/rules/1", token_cookie)
    assert f"Signed in as <strong>{PERSON}" in page.text


def test_a_callback_not_started_here_is_refused(oidc: Provider, admin: AdminClient) -> None:
    base = f"http://127.0.0.1:{admin.port}"
    start = _get(f"{base}/ui/oidc/login")
    at_provider = _get(start.headers["Location"])
    forged = _get(at_provider.headers["Location"], "rulelog_oidc=other.state")
    assert forged.status == 403 and "state does not match" in forged.text
    assert _get(at_provider.headers["Location"]).status == 403  # no state cookie at all


def test_without_a_client_id_there_is_no_provider_sign_in(admin: AdminClient) -> None:
    base = f"http://127.0.0.1:{admin.port}"
    assert 'id="oidc-sign-in"' not in _get(f"{base}/ui/signin").text
    assert _get(f"{base}/ui/oidc/login").status == 404
