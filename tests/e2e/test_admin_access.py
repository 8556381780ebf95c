"""Issue 17, findings 2 and 3: every route of the OpenAPI document, called by those who
should see least.

Each operation the admin app serves must declare what it needs
(``x-rulelog-access``, from ``api.admin.access``); each is then called with no
token, with a token of a user holding nothing, and with a verified OIDC identity
the store does not know, and each answer is checked against the declaration.
Nothing any of them sends is stored.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest

from rulelog.api.admin.access import Need
from rulelog.projections.audit import exposes_access
from tests.e2e.conftest import AdminClient, AdminServer
from tests.e2e.oidc_support import Provider, oidc_on, provider_fixture  # noqa: F401
from tests.e2e.test_admin_authz import FX, REL, make_rule

#: A value for each path parameter, naming something that exists.
PATH_VALUES = {
    "rule_id": "1",
    "id_or_alias": "1",
    "release": REL,
    "name": REL,
    "platform": "WINNT_x86_64-msvc",
    "locale": "en-US",
    "column": "product",
    "sc_id": "1",
    "kind": "rules",  # a kind of scheduled change (impact)
    "product": FX,
    "channel": "beta",
    "username": "alice",  # someone other than each caller
    "permission": "rule",
    "role": "relman",
    "path": ".platforms.WINNT_x86_64-msvc.locales.en-US",  # a v2 release part
    "version": "121.",  # a v2 pin
}
CALLERS = ("nobody", "no-permission", "unknown-oidc")


@pytest.fixture
def served(admin: AdminClient, admin_server: AdminServer, provider: Provider) -> Iterator[Any]:
    make_rule(admin)
    admin.service.grant_permission("releng", "rule", {"products": [FX]}, "alice")
    admin.service.grant_role("releng", "relman", "alice")
    admin.token_for("bob")
    with oidc_on(admin_server, provider.settings):
        yield admin


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, op)
        for path, ops in document["paths"].items()
        for method, op in ops.items()
    ]


def headers_for(caller: str, admin: AdminClient, provider: Provider) -> dict[str, str]:
    if caller == "no-permission":
        return {"Authorization": f"Bearer {admin.token_for('bob')}"}
    if caller == "unknown-oidc":
        token = provider.token(email="stranger@example.com", email_verified=True)
        return {"Authorization": f"Bearer {token}"}
    return {}


def allowed(need: Need, caller: str) -> set[int] | None:
    """The statuses ``caller`` may get from a route needing ``need`` (None: any but 5xx,
    401 and 403)."""
    refused = 401 if caller == "nobody" else 403
    if need in (Need.VIEW, Need.SELF_OR_VIEW):
        return {refused}
    if need is Need.IDENTITY:  # Balrog validates first: a bad body is a 400 for anyone
        return {refused, 400} if caller != "no-permission" else {403, 400, 404}
    return None


def test_every_route_declares_what_it_needs(served: AdminClient) -> None:
    document = served.get("/openapi.json", as_user=None).json
    undeclared = [
        f"{method} {path}"
        for method, path, op in operations(document)
        if op.get("x-rulelog-access") not in {n.value for n in Need}
    ]
    assert undeclared == []
    assert len(operations(document)) > 100


def test_every_route_answers_each_outsider_as_declared(
    served: AdminClient, provider: Provider
) -> None:
    document = served.get("/openapi.json", as_user=None).json
    before = served.event_count()
    wrong = []
    for method, template, op in operations(document):
        need = Need(op["x-rulelog-access"])
        path = re.sub(r"\{(\w+)\}", lambda m: PATH_VALUES[m.group(1)], template)
        for caller in CALLERS:
            answer = served.request(
                method,
                path.removeprefix("/api") if path.startswith("/api") else path,
                raw=b"{}" if method != "GET" else None,
                headers={
                    **headers_for(caller, served, provider),
                    "Content-Type": "application/json",
                },
                as_user=None,
            )
            expected = allowed(need, caller)
            ok = (
                answer.status in expected
                if expected is not None
                else answer.status < 500 and answer.status not in (401, 403)
            )
            if answer.status == 200 and need is Need.IDENTITY and caller == "no-permission":
                ok = "error" in answer.json  # Balrog's refusal to revoke a signoff not held
            if not ok or b"Traceback" in answer.body:
                wrong.append((method, template, caller, answer.status, answer.text[:200]))
    assert wrong == [], '\n'.join(map(str, wrong))
    assert served.event_count() == before  # nothing anyone of them sent was stored


@pytest.mark.parametrize("caller", CALLERS)
def test_the_audit_feed_hides_grants_roles_and_tokens_from_outsiders(
    served: AdminClient, provider: Provider, caller: str
) -> None:
    headers = headers_for(caller, served, provider)
    for kinds in ([], ["permission"], ["role"], ["sc"]):
        query = "&".join(f"kind={k}" for k in kinds)
        answer = served.request("GET", f"/timeline/changes?{query}", headers=headers, as_user=None)
        assert answer.status == 200, answer.text
        assert not [r for r in answer.json if exposes_access(r["kind"], r["what"])]
    shown = served.get("/timeline/changes")  # alice, an admin, sees them all
    kinds = {r["kind"] for r in shown.json}
    assert {"permission", "role", "api-token"} <= kinds
    assert "bob" not in json.dumps(
        served.request("GET", "/timeline/changes", headers=headers, as_user=None).json
    )


def test_users_may_read_their_own_permissions_only(served: AdminClient) -> None:
    assert served.get("/users/releng/permissions", as_user="releng").status == 200
    assert served.get("/users/alice/permissions", as_user="releng").status == 403
    assert served.get("/users", as_user="releng").status == 403
    assert served.get("/users", as_user="alice").status == 200
