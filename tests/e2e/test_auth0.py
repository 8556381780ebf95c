"""Auth0 identities as Balrog's admin app names them (issue 13, item 2; issue 17, item 4).

Against a stand-in provider over real HTTP: the e-mail of the token names a
person, else the provider's userinfo answer (one lookup per token); machine
tokens act as the account configuration maps their client id to, and as
nobody otherwise; bad tokens of every kind are 401.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.e2e.conftest import AdminClient, AdminServer
from tests.e2e.oidc_support import Provider, oidc_on, provider_fixture  # noqa: F401
from tests.e2e.test_admin_authz import make_rule


@pytest.fixture
def oidc(admin: AdminClient, admin_server: AdminServer, provider: Provider) -> Iterator[Provider]:
    admin.service.grant_permission("rel@example.com", "rule", {}, "alice")
    admin.service.grant_permission("balrogagent", "rule", {}, "alice")
    with oidc_on(admin_server, provider.settings):
        yield provider


def edit_rule(admin: AdminClient, token: str, comment: str) -> tuple[int, dict]:
    version = admin.get("/rules/1", as_user=None).json["data_version"]
    answer = admin.request(
        "PUT",
        "/rules/1",
        json_body={"comment": comment, "data_version": version},
        as_user=None,
        headers={"Authorization": f"Bearer {token}"},
    )
    return answer.status, answer.json


def last_actor(admin: AdminClient) -> str:
    rows = admin.get("/rules/1/revisions", as_user=None).json["rules"]
    return rows[0]["changed_by"]


@pytest.fixture
def rule(admin: AdminClient) -> None:
    assert make_rule(admin) == 1


def test_the_email_claim_names_the_caller(admin: AdminClient, oidc: Provider, rule: None) -> None:
    status, body = edit_rule(admin, oidc.token(email="rel@example.com"), "by email")
    assert status == 200, body
    assert last_actor(admin) == "rel@example.com"


def test_without_an_email_claim_userinfo_is_asked_once_per_token(
    admin: AdminClient, oidc: Provider, rule: None
) -> None:
    token = oidc.token(sub="auth0|42")
    oidc.userinfo[token] = {"email": "rel@example.com", "email_verified": True}
    before = oidc.userinfo_requests
    for n in range(3):
        status, body = edit_rule(admin, token, f"via userinfo {n}")
        assert status == 200, body
    assert oidc.userinfo_requests - before == 1
    assert last_actor(admin) == "rel@example.com"


def test_an_unverified_email_is_refused(admin: AdminClient, oidc: Provider, rule: None) -> None:
    token = oidc.token(sub="auth0|43")
    oidc.userinfo[token] = {"email": "rel@example.com", "email_verified": False}
    status, body = edit_rule(admin, token, "unverified")
    assert status == 401 and "email_unverified" in body["exception"]
    status, body = edit_rule(admin, oidc.token(sub="auth0|44"), "no userinfo")  # provider: 401
    assert status == 401 and "incomplete_validation" in body["exception"]


def test_machine_tokens_act_as_their_mapped_account_only(
    admin: AdminClient, oidc: Provider, rule: None
) -> None:
    mapped = oidc.token(azp="AgentClient1", sub="AgentClient1@clients", gty="client-credentials")
    status, body = edit_rule(admin, mapped, "by the agent")
    assert status == 200, body
    assert last_actor(admin) == "balrogagent"
    # issue 17: a client id that equals a local admin's name is nobody, not that admin
    forged = oidc.token(azp="alice", sub="alice@clients", gty="client-credentials")
    status, body = edit_rule(admin, forged, "as alice?")
    assert status == 401 and "unknown_client" in body["exception"]
    person = oidc.token(azp="alice", sub="alice")
    oidc.userinfo[person] = {"sub": "alice", "nickname": "alice"}  # and no email
    status, body = edit_rule(admin, person, "no email")
    assert status == 401 and "no_email" in body["exception"]


@pytest.mark.parametrize(
    ("claims", "code"),
    [
        ({"aud": "another-api"}, "invalid_claims"),
        ({"iss": "https://evil.example.com/"}, "invalid_claims"),
        ({"exp": int(time.time()) - 60}, "token_expired"),
        ({"kid": "unknown"}, "invalid_key"),
        ({"key": "stranger"}, "invalid_token"),
    ],
)
def test_bad_tokens_are_401(
    admin: AdminClient, oidc: Provider, rule: None, claims: dict, code: str
) -> None:
    if claims.get("key") == "stranger":
        claims = {"key": rsa.generate_private_key(public_exponent=65537, key_size=2048)}
    token = oidc.token(email="rel@example.com", **claims)
    before = admin.event_count()
    status, body = edit_rule(admin, token, "refused")
    assert status == 401 and code in body["exception"]
    assert admin.event_count() == before
