"""The admin app's wiring over real HTTP: auth, problems, OpenAPI, dockerflow."""

from __future__ import annotations

from tests.e2e.conftest import AdminClient


def test_create_then_read_a_rule(admin: AdminClient, fixture_snapshot: dict) -> None:
    admin.service.import_snapshot(fixture_snapshot, "importer")
    release = fixture_snapshot["releases"][0]["name"]
    made = admin.post(
        "/rules",
        {"mapping": release, "backgroundRate": 100, "priority": 5, "update_type": "minor",
         "product": "Firefox", "channel": "smoke"},
    )
    assert made.status == 200, made.text
    rule_id = int(made.text)
    got = admin.get(f"/rules/{rule_id}", as_user=None)
    assert got.status == 200
    assert got.json["channel"] == "smoke" and got.json["data_version"] == 1
    assert got.headers["X-Data-Version"] == "1"


def test_no_token_is_401_and_changes_nothing(admin: AdminClient) -> None:
    before = admin.event_count()
    answer = admin.post("/rules", VALID_RULE, as_user=None)
    assert answer.status == 401
    assert answer.json["detail"] == "PermissionDeniedError"
    assert admin.event_count() == before


VALID_RULE = {"mapping": "x", "backgroundRate": 100, "priority": 5, "update_type": "minor"}


def test_token_without_permission_is_403(admin: AdminClient, fixture_snapshot: dict) -> None:
    admin.service.import_snapshot(fixture_snapshot, "importer")
    rule = {**VALID_RULE, "mapping": fixture_snapshot["releases"][0]["name"]}
    answer = admin.post("/rules", rule, as_user="bob")
    assert answer.status == 403


def test_openapi_and_docs_are_served(admin: AdminClient) -> None:
    spec = admin.get("/openapi.json", as_user=None)
    assert spec.status == 200 and "/api/rules" in spec.json["paths"]
    assert admin.get("/docs", as_user=None).status == 200


def test_dockerflow(admin: AdminClient) -> None:
    assert admin.get("/__lbheartbeat__", as_user=None).text == "OK!"
    beat = admin.get("/__heartbeat__", as_user=None)
    assert beat.status == 200 and int(beat.text) > 0
    assert admin.get("/__version__", as_user=None).json["version"] == "unknown"
