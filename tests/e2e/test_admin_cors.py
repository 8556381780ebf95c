"""Balrog's UI against rulelog's admin API: the calls it makes, with CORS preflights."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from rulelog.api.admin.app import AdminSettings
from rulelog.api.admin.cors import cors_origins
from tests.conftest import Store
from tests.e2e.conftest import AdminClient, AdminServer, client_of
from tests.stub_http import running

UI = "https://balrog-ui.example.org"
#: What a browser sends before the UI's authenticated JSON calls (axios).
PREFLIGHT = {
    "Origin": UI,
    "Access-Control-Request-Method": "PUT",
    "Access-Control-Request-Headers": "authorization,content-type",
}


@pytest.fixture(scope="module")
def cors_server() -> Iterator[AdminServer]:
    yield from running(AdminServer(AdminSettings(cors_origins=(UI, "https://other.example"))))


@pytest.fixture
def ui(cors_server: AdminServer, store: Store) -> Iterator[AdminClient]:
    with client_of(cors_server, store) as client:
        created = client.put(
            "/v2/releases/R1",
            {
                "product": "Firefox",
                "blob": {"name": "R1", "schema_version": 1, "hashFunction": "sha512"},
            },
        )
        assert created.status == 200, created.text
        yield client


def test_origins_parse_as_balrog_reads_them() -> None:
    assert cors_origins(" https://a.example , https://b.example,") == (
        "https://a.example",
        "https://b.example",
    )
    assert cors_origins(None) == ()


@pytest.mark.parametrize(
    ("path", "methods"),
    [
        ("/v2/releases", {"GET", "HEAD", "OPTIONS"}),
        ("/v2/releases/R1", {"GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS"}),
        ("/v2/releases/R1/read_only", {"PUT", "OPTIONS"}),
        ("/rules", {"GET", "HEAD", "POST", "OPTIONS"}),
    ],
)
def test_preflights_are_answered(ui: AdminClient, path: str, methods: set[str]) -> None:
    answer = ui.request("OPTIONS", path, as_user=None, headers=PREFLIGHT)
    assert answer.status == 200
    assert answer.body == b""
    assert set(answer.headers["Allow"].split(", ")) == methods
    assert answer.headers["Access-Control-Allow-Origin"] == UI
    assert answer.headers["Access-Control-Allow-Headers"] == "Authorization, Content-Type"
    assert answer.headers["Access-Control-Allow-Methods"] == "OPTIONS, GET, POST, PUT, DELETE"


def test_the_uis_calls_get_balrogs_answers_with_cors(ui: AdminClient) -> None:
    headers = {"Origin": UI, "Accept": "application/json, text/plain, */*"}
    calls = [
        ("GET", "/v2/releases", None, 200),
        ("GET", "/v2/releases/R1", None, 200),
        ("GET", "/rules", None, 200),
        ("GET", "/scheduled_changes/rules", None, 200),
        ("PUT", "/v2/releases/R1/read_only", {"read_only": True, "old_data_version": 1}, 200),
    ]
    for method, path, body, status in calls:
        answer = ui.request(method, path, json_body=body, headers=headers)
        assert answer.status == status, (path, answer.text)
        assert answer.headers["Access-Control-Allow-Origin"] == UI, path
        assert answer.headers["Content-Type"] == "application/json", path
    assert ui.get("/v2/releases").json["releases"][0]["read_only"] is True


def test_an_origin_not_listed_gets_no_allow_origin(ui: AdminClient) -> None:
    answer = ui.request(
        "OPTIONS",
        "/v2/releases",
        as_user=None,
        headers={**PREFLIGHT, "Origin": "https://evil.example"},
    )
    assert answer.status == 200
    assert "Access-Control-Allow-Origin" not in answer.headers
    missing = ui.request("OPTIONS", "/no/such/route", as_user=None, headers=PREFLIGHT)
    assert missing.status == 404
