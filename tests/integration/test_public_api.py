"""Balrog's read-only public API and dockerflow routes, in-process, on both stores.

One test per route: the happy path with Balrog's JSON shape and headers,
and its 404 (or 400 for query options Balrog's strict spec refuses).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from rulelog.api.public import PublicSettings, create_public_app
from rulelog.services.application import RulelogApp
from tests.conftest import DATA

RULE_KEYS = {
    "rule_id", "alias", "priority", "mapping", "fallbackMapping", "backgroundRate",
    "update_type", "product", "version", "channel", "buildTarget", "buildID", "locale",
    "osVersion", "memory", "instructionSet", "jaws", "mig64", "distribution", "distVersion",
    "headerArchitecture", "comment", "data_version",
}  # fmt: skip


@pytest.fixture
def imported(app: RulelogApp, fixture_snapshot: dict[str, Any]) -> RulelogApp:
    app.import_snapshot(fixture_snapshot, "importer")
    return app


@pytest.fixture
def client(imported: RulelogApp) -> Iterator[TestClient]:
    web = create_public_app(settings=PublicSettings(follow=False), store=imported)
    with TestClient(web) as test_client:
        yield test_client


def refresh(client: TestClient) -> None:
    """Fold what the test just committed (the follower thread is off in these tests)."""
    client.app.state.server.follower.poll_once()  # type: ignore[attr-defined]


def _problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    document = response.json()
    assert document["status"] == status and document["type"] == "about:blank"
    return document


def test_rules_list(client: TestClient) -> None:
    response = client.get("/api/v1/rules")
    assert response.status_code == 200 and response.headers["content-type"] == "application/json"
    document = response.json()
    assert document["count"] == 33 and len(document["rules"]) == 33
    assert set(document["rules"][0]) == RULE_KEYS
    priorities = [r["priority"] for r in document["rules"]]
    assert priorities == sorted(priorities)  # Balrog's getOrderedRules: ascending
    assert response.text.endswith("\n") and ", " not in response.text[:50]  # jsonify
    only = client.get("/api/v1/rules", params={"product": "Thunderbird"}).json()
    assert only["count"] == 5 and {r["product"] for r in only["rules"]} == {"Thunderbird"}
    assert client.get("/api/v1/rules", params={"product": "Nope"}).json() == {
        "count": 0,
        "rules": [],
    }
    refused = _problem(client.get("/api/v1/rules", params={"timestamp": "1"}), 400)
    assert refused["detail"] == "Extra query parameter(s) timestamp not in spec"


def test_rule_by_id_or_alias(client: TestClient, imported: RulelogApp) -> None:
    by_alias = client.get("/api/v1/rules/firefox-release")
    by_id = client.get("/api/v1/rules/1")
    assert by_alias.status_code == by_id.status_code == 200
    assert by_alias.json() == by_id.json()
    assert next(iter(by_id.json())) == "rule_id" and set(by_id.json()) == RULE_KEYS
    assert by_id.headers["X-Data-Version"] == "1"
    imported.update_rule(1, 1, {"priority": 91}, "alice")
    refresh(client)
    again = client.get("/api/v1/rules/1")
    assert again.json()["priority"] == 91 and again.headers["X-Data-Version"] == "2"
    for missing in ("/api/v1/rules/999", "/api/v1/rules/no-such-alias"):
        document = _problem(client.get(missing), 404)
        assert document["detail"] == "Requested rule wasn't found"
        assert document["exception"] == "Requested rule does not exist"


def test_rule_revisions(client: TestClient, imported: RulelogApp) -> None:
    for version, comment in ((1, "first"), (2, "second")):
        imported.update_rule(5, version, {"comment": comment}, "alice")
    refresh(client)
    document = client.get("/api/v1/rules/5/revisions").json()
    assert document["count"] == 3
    assert [r["data_version"] for r in document["rules"]] == [3, 2, 1]
    newest = document["rules"][0]
    assert newest["comment"] == "second" and newest["changed_by"] == "alice"
    assert set(newest) == RULE_KEYS | {"change_id", "changed_by", "timestamp"}
    assert isinstance(newest["timestamp"], int) and newest["change_id"] > 0
    page = client.get("/api/v1/rules/5/revisions", params={"page": 2, "limit": 2}).json()
    assert page["count"] == 3 and [r["data_version"] for r in page["rules"]] == [1]
    missing = client.get("/api/v1/rules/999/revisions")
    assert missing.status_code == 404 and missing.text == "Requested rule does not exist"
    assert client.get("/api/v1/rules/abc/revisions").status_code == 404
    _problem(client.get("/api/v1/rules/5/revisions", params={"page": "0"}), 400)
    _problem(client.get("/api/v1/rules/5/revisions", params={"limit": "x"}), 400)


def test_releases_list(client: TestClient) -> None:
    document = client.get("/api/v1/releases").json()
    assert len(document["releases"]) == 11
    firefox = next(r for r in document["releases"] if r["name"] == "Firefox-121.0-build1")
    assert set(firefox) == {"name", "product", "data_version", "read_only", "rule_ids", "rule_info"}
    assert 1 in firefox["rule_ids"] and firefox["rule_info"]["1"] == {
        "product": "Firefox",
        "channel": "release",
    }
    names = client.get("/api/v1/releases", params={"names_only": "1", "product": "GMP"}).json()
    assert names == {"names": ["GMP-Superblob-2023"]}
    prefixed = client.get("/api/v1/releases", params={"name_prefix": "Thunder"}).json()
    assert [r["name"] for r in prefixed["releases"]] == ["Thunderbird-115.6.0-build1"]
    assert client.get("/api/v1/releases", params={"product": "Nope"}).json() == {"releases": []}


def test_release(client: TestClient, fixture_snapshot: dict[str, Any]) -> None:
    name = "Firefox-121.0-build1"
    response = client.get(f"/api/v1/releases/{name}")
    assert response.status_code == 200 and response.headers["X-Data-Version"] == "1"
    expected = next(r["data"] for r in fixture_snapshot["releases"] if r["name"] == name)
    assert response.json() == expected
    assert response.text == json.dumps(expected, sort_keys=True)
    pretty = client.get(f"/api/v1/releases/{name}", params={"pretty": "1"})
    assert pretty.text == json.dumps(expected, sort_keys=True, indent=4, separators=(",", ": "))
    document = _problem(client.get("/api/v1/releases/Nope-1.0"), 404)
    assert document["detail"] == "Release name: Nope-1.0 not found"


def test_release_single_locale(client: TestClient, fixture_snapshot: dict[str, Any]) -> None:
    name, platform = "Firefox-121.0-build1", "WINNT_x86_64-msvc-x64"
    response = client.get(f"/api/v1/releases/{name}/builds/{platform}/de")
    assert response.status_code == 200 and response.headers["X-Data-Version"] == "1"
    blob = next(r["data"] for r in fixture_snapshot["releases"] if r["name"] == name)
    assert response.json() == blob["platforms"][platform]["locales"]["de"]
    _problem(client.get(f"/api/v1/releases/{name}/builds/{platform}/xx"), 404)
    _problem(client.get(f"/api/v1/releases/{name}/builds/Nope/de"), 404)
    _problem(client.get(f"/api/v1/releases/Nope/builds/{platform}/de"), 404)


def test_emergency_shutoffs(client: TestClient) -> None:
    document = client.get("/api/v1/emergency_shutoff").json()
    assert document["count"] == 2
    assert {(s["product"], s["channel"]) for s in document["shutoffs"]} == {
        ("Thunderbird", "beta"),
        ("GMP", "esr"),
    }
    assert set(document["shutoffs"][0]) == {"product", "channel", "comment", "data_version"}


@pytest.mark.parametrize(
    ("path", "row", "missing", "detail"),
    [
        (
            "/emergency_shutoff/Thunderbird/beta",
            {"product": "Thunderbird", "channel": "beta", "comment": "bad beta"},
            "/emergency_shutoff/Firefox/release",
            "Requested emergency shutoff wasn't found",
        ),
        (
            "/pins/Firefox/release/120.",
            {
                "product": "Firefox",
                "channel": "release",
                "version": "120.",
                "mapping": "Firefox-120.0-build1",
            },
            "/pins/Firefox/release/99.",
            "Pin for Product='Firefox', Channel='release', Version='99.' not found",
        ),
    ],
    ids=["emergency_shutoff", "pin"],
)
def test_one_row(
    client: TestClient, path: str, row: dict[str, Any], missing: str, detail: str
) -> None:
    """One shutoff or pin, its data_version also in ``X-Data-Version``; Balrog's 404."""
    response = client.get(f"/api/v1{path}")
    assert response.status_code == 200 and response.headers["X-Data-Version"] == "1"
    assert response.json() == {**row, "data_version": 1}
    document = _problem(client.get(f"/api/v1{missing}"), 404)
    assert document["detail"] == detail


def test_dockerflow(client: TestClient) -> None:
    assert client.get("/__lbheartbeat__").text == "OK!"
    heartbeat = client.get("/__heartbeat__")
    assert heartbeat.status_code == 200 and heartbeat.text == "33"
    assert heartbeat.headers["Cache-Control"] == "public, max-age=60"
    version = client.get("/__version__").json()
    assert set(version) == {"source", "version", "commit"}
    robots = client.get("/robots.txt")
    assert robots.text.startswith("# Per bug 997919") and "Disallow: /" in robots.text
    assert client.get("/__noop__").text == "OK"


def test_balrog_headers_on_every_answer(client: TestClient) -> None:
    for target in ("/api/v1/rules", "/nothing/here", "/update/1/x/update.xml"):
        headers = client.get(target).headers
        assert headers["Cache-Control"] == "public, max-age=90"
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["Strict-Transport-Security"] == "max-age=31536000;"
        assert len(headers["X-Request-ID"]) == 32


def test_heartbeat_says_when_the_store_is_down(client: TestClient, monkeypatch: Any) -> None:
    server = client.app.state.server  # type: ignore[attr-defined]

    def down() -> None:
        raise ConnectionError("no database")

    monkeypatch.setattr(server.store().recorder, "max_notification_id", down)
    response = client.get("/__heartbeat__")
    assert response.status_code == 502
    assert response.text.startswith("Can't connect to the database. Serving the view at position")


def test_update_answers_load_missing_blobs_off_the_loop(client: TestClient) -> None:
    vector = json.loads((DATA / "expected.jsonl").read_text().splitlines()[0])
    server = client.app.state.server  # type: ignore[attr-defined]
    server.state.blobs.clear()
    response = client.get(vector["url"])
    assert response.status_code == 200 and response.text == vector["body"]
    assert response.headers["Rule-ID"] == vector["rule_id"]
    assert len(server.state.blobs) > 0


def test_not_loaded_yet_is_503_not_no_update() -> None:
    class Down:
        @property
        def recorder(self) -> Any:
            raise ConnectionError("store down")

    web = create_public_app(settings=PublicSettings(follow=False), store=Down())
    with TestClient(web) as down:
        update = down.get("/update/3/Firefox/1/2/WINNT/en-US/release/x/default/default/update.xml")
        assert update.status_code == 503 and update.headers["Retry-After"] == "1"
        assert down.get("/__heartbeat__").status_code == 503
        assert down.get("/__lbheartbeat__").status_code == 200
