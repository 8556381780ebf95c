"""API tokens and the authenticator, on the in-memory store (no I/O but a temp JWKS file)."""

from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from rulelog.api.auth import Authenticator, AuthError, JwtSettings
from rulelog.domain.access.tokens import digest, token_id_of
from rulelog.domain.access.users import RoleRoster, User
from rulelog.domain.errors import Conflict, Invalid, NotFound
from rulelog.projections.log import read_log
from rulelog.services.application import RulelogApp


@pytest.fixture
def app() -> RulelogApp:
    return RulelogApp(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})


def test_a_token_identifies_its_user_and_only_its_hash_is_stored(app: RulelogApp) -> None:
    token_id, token = app.issue_token("ops@example.com", "root", "ci")
    assert token_id_of(token) == token_id
    assert app.authenticate(token) == "ops@example.com"
    stored = app.get_token(token_id)
    assert stored.sha256 == digest(token)
    for item in app.recorder.select_notifications(start=1, limit=100):
        assert token.encode() not in item.state  # the secret never reaches the store


def test_forged_unknown_and_malformed_tokens_identify_nobody(app: RulelogApp) -> None:
    token_id, token = app.issue_token("ops", "root")
    forged = token[:-1] + ("A" if token[-1] != "A" else "B")
    other_id = "0" * 16 if token_id != "0" * 16 else "1" * 16
    assert app.authenticate(forged) is None
    assert app.authenticate(token.replace(token_id, other_id)) is None
    assert app.authenticate("") is None
    assert app.authenticate("Bearer " + token) is None


def test_revoked_tokens_stop_working_and_revoking_twice_is_a_conflict(app: RulelogApp) -> None:
    token_id, token = app.issue_token("ops", "root")
    _, other = app.issue_token("ops", "root")
    app.revoke_token(token_id, "root")
    assert app.authenticate(token) is None
    assert app.authenticate(other) == "ops"  # revoking one leaves the user's others
    with pytest.raises(Conflict):
        app.revoke_token(token_id, "root")


def test_bad_input_is_refused(app: RulelogApp) -> None:
    with pytest.raises(Invalid):
        app.issue_token("", "root")
    with pytest.raises(Invalid):
        app.issue_token("x" * 101, "root")
    with pytest.raises(Invalid):
        app.revoke_token("not-an-id", "root")
    with pytest.raises(NotFound):
        app.revoke_token("0123456789abcdef", "root")


def test_the_authenticator_reads_bearer_headers_as_balrog(app: RulelogApp) -> None:
    _, token = app.issue_token("ops", "root")
    auth = Authenticator(app)
    assert auth.identify(f"Bearer {token}") == "ops"
    assert auth.identify(f"bearer {token}") == "ops"
    for header, code in [
        (None, "authorization_header_missing"),
        ("Basic abc", "invalid_header"),
        ("Bearer", "invalid_header"),
        (f"Bearer {token} extra", "invalid_header"),
        ("Bearer rlt_0123456789abcdef_x", "invalid_token"),
        # issue 17: Unicode spaces are not separators, and nothing is indexed blindly
        ("\u00a0", "invalid_header"),
        (" \t ", "authorization_header_missing"),
        (f"Bearer\u00a0{token}", "invalid_header"),
        (f"Bearer {token}\u00a0", "invalid_header"),
        ("Bearer \x00", "invalid_header"),
        ("Bearer " + "a" * 20000, "invalid_header"),
    ]:
        with pytest.raises(AuthError) as caught:
            auth.identify(header)
        assert caught.value.error["code"] == code


ISSUER = "https://auth.example.com/"
AUDIENCE = "rulelog-admin"


@pytest.fixture
def oidc(tmp_path: Path) -> tuple[rsa.RSAPrivateKey, JwtSettings]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps({"keys": [{**jwk, "kid": "k1", "use": "sig", "alg": "RS256"}]}))
    return key, JwtSettings(issuer=ISSUER, audience=AUDIENCE, jwks=str(jwks))


def _jwt(key: rsa.RSAPrivateKey, **claims: object) -> str:
    base = {"iss": ISSUER, "aud": AUDIENCE, "exp": int(time.time()) + 600}
    return jwt.encode({**base, **claims}, key, algorithm="RS256", headers={"kid": "k1"})


def test_oidc_jwts_map_their_verified_email_to_the_user(app: RulelogApp, oidc) -> None:
    key, settings = oidc
    auth = Authenticator(app, settings)
    assert auth.identify("Bearer " + _jwt(key, email="rel@example.com")) == "rel@example.com"
    _, token = app.issue_token("ops", "root")
    assert auth.identify(f"Bearer {token}") == "ops"  # rulelog's own tokens still work


@pytest.mark.parametrize(
    ("claims", "code"),
    [
        # issue 17: azp/sub never name a local user; an unmapped machine is nobody
        ({"azp": "admin"}, "no_email"),
        ({"sub": "admin"}, "no_email"),
        ({"azp": "admin", "gty": "client-credentials"}, "unknown_client"),
        ({"sub": "admin@clients"}, "unknown_client"),
        ({"email": "admin"}, "no_email"),  # not an address: it could be a local name
        ({"email": "rel@example.com", "email_verified": False}, "email_unverified"),
        ({"email": ["rel@example.com"]}, "no_email"),
    ],
)
def test_oidc_tokens_without_a_usable_identity_are_refused(
    app: RulelogApp, oidc, claims: dict[str, object], code: str
) -> None:
    key, settings = oidc
    app.add_user("admin", admin=True, recorded_by="root")
    with pytest.raises(AuthError) as caught:
        Authenticator(app, settings).identify("Bearer " + _jwt(key, **claims))
    assert caught.value.error["code"] == code


def test_machine_tokens_act_as_the_account_they_are_mapped_to(app: RulelogApp, oidc) -> None:
    key, settings = oidc
    mapped = replace(settings, machine_accounts={"Xk3client": "balrogagent"})
    auth = Authenticator(app, mapped)
    machine = _jwt(key, azp="Xk3client", sub="Xk3client@clients", gty="client-credentials")
    assert auth.identify("Bearer " + machine) == "balrogagent"


def test_oidc_jwts_are_verified(app: RulelogApp, oidc) -> None:
    key, settings = oidc
    auth = Authenticator(app, settings)
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    unknown_kid = jwt.encode(
        {"iss": ISSUER, "aud": AUDIENCE, "exp": int(time.time()) + 600, "email": "x@e.com"},
        key,
        algorithm="RS256",
        headers={"kid": "k2"},
    )
    bad = [
        (_jwt(stranger, email="x@example.com"), "invalid_token"),  # not the provider's key
        (_jwt(key, email="x@example.com", aud="someone-else"), "invalid_claims"),
        (_jwt(key, email="x@example.com", iss="https://evil.example.com/"), "invalid_claims"),
        (_jwt(key, email="x@example.com", exp=int(time.time()) - 60), "token_expired"),
        (unknown_kid, "invalid_key"),
        (jwt.encode({"email": "x@e.com"}, "s" * 32, algorithm="HS256"), "invalid_header"),
        ("not.a.jwt", "invalid_header"),
    ]
    for token, code in bad:
        with pytest.raises(AuthError) as caught:
            auth.identify(f"Bearer {token}")
        assert caught.value.error["code"] == code, token


def test_jwt_settings_from_env() -> None:
    assert JwtSettings.from_env({}) is None
    with pytest.raises(ValueError, match="RULELOG_JWT_AUDIENCE"):
        JwtSettings.from_env({"RULELOG_JWT_ISSUER": ISSUER, "RULELOG_JWT_JWKS": "/x"})
    made = JwtSettings.from_env(
        {"RULELOG_JWT_ISSUER": ISSUER, "RULELOG_JWT_AUDIENCE": "a", "RULELOG_JWT_JWKS": "/x"}
    )
    assert made is not None and made.audience == "a" and made.email_claim == "email"
    auth0 = JwtSettings.from_env(
        {
            "RULELOG_AUTH0_DOMAIN": "tenant.eu.auth0.com",
            "RULELOG_JWT_AUDIENCE": "balrog-production",
            "RULELOG_AUTH0_MACHINE_ACCOUNTS": '{"GaX7client": "balrog-ffxbld"}',
        }
    )
    assert auth0 == JwtSettings(
        issuer="https://tenant.eu.auth0.com/",
        audience="balrog-production",
        jwks="https://tenant.eu.auth0.com/.well-known/jwks.json",
        userinfo="https://tenant.eu.auth0.com/userinfo",
        machine_accounts={"GaX7client": "balrog-ffxbld"},
    )
    with pytest.raises(ValueError, match="MACHINE_ACCOUNTS"):
        JwtSettings.from_env({**env_of(auth0), "RULELOG_AUTH0_MACHINE_ACCOUNTS": "[1]"})


def env_of(settings: JwtSettings | None) -> dict[str, str]:
    assert settings is not None
    return {
        "RULELOG_JWT_ISSUER": settings.issuer,
        "RULELOG_JWT_AUDIENCE": settings.audience,
        "RULELOG_JWT_JWKS": settings.jwks,
    }


def test_a_token_seen_before_is_still_checked_fresh(app: RulelogApp) -> None:
    """The owner of a token is remembered; its revocation and the user's rows are not."""
    token_id, token = app.issue_token("ops", "root")
    assert app.authenticate_user(token) == ("ops", None)  # no permission yet
    app.add_user("ops", admin=True, recorded_by="root")
    name, user = app.authenticate_user(token) or ("", None)
    assert name == "ops" and user is not None and "admin" in user.permissions
    app.revoke_token(token_id, "root")
    assert app.authenticate_user(token) is None


def test_every_token_and_access_event_names_who_acted_not_its_subject(app: RulelogApp) -> None:
    """Issue 17, finding 6: the issuer, the revoker and the granter are the actors."""
    token_id, _ = app.issue_token("ops@example.com", "root")
    app.revoke_token(token_id, "security-officer")
    app.add_user("boss", admin=True, recorded_by="root")
    app.grant_permission("carol", "rule", {}, "boss")
    app.grant_role("carol", "relman", "boss")
    actors = {
        logged.topic: logged.actor
        for logged in read_log(app)
        if logged.topic.startswith(("rulelog:api-token", "rulelog:user", "rulelog:role-roster"))
    }
    assert actors["rulelog:api-token.issued"] == "root"
    assert actors["rulelog:api-token.revoked"] == "security-officer"
    assert actors["rulelog:user.created"] == "boss"  # carol's, created by her first grant
    assert actors["rulelog:role-roster.joined"] == "boss"
    assert None not in actors.values()


def test_events_stored_before_they_named_the_actor_still_load() -> None:
    """Old ``user.created`` and ``role-roster.joined`` events (class version 1) are
    upcast: no actor rather than the subject in its place."""
    state: dict[str, object] = {"username": "carol"}
    User.Created.upcast_v1_v2(state)
    assert state == {"username": "carol", "created_by": None}
    state = {"username": "carol"}
    RoleRoster.Joined.upcast_v1_v2(state)
    assert state["changed_by"] is None
