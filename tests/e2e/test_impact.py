"""Traffic impact end to end: a real public server samples what it answers, the real
CLI replays the sample against a proposed change, the admin API against a scheduled one."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from rulelog.services.impact import record_sample, sample_of
from tests.conftest import DATA, Store
from tests.e2e.conftest import AdminClient
from tests.e2e.processes import cli_ok, run_cli
from tests.e2e.test_public_http import public_server
from tests.integration.test_impact import SAMPLE, german_rule, target


def _impact(store: Store, *args: str) -> dict:
    return json.loads(cli_ok(store.url, "impact", *args, "--json"))


def test_the_public_server_samples_and_the_cli_replays(
    module_store: Store, tmp_path: Path
) -> None:
    cli_ok(module_store.url, "users", "add", "t", "--admin")
    cli_ok(module_store.url, "import", str(DATA / "fixture.json"), "--as", "t")
    asked = [target("de"), target("fr"), target("de", "beta", "121.0")]
    every = {"RULELOG_IMPACT_SAMPLE_RATE": "1"}
    with public_server(module_store, tmp_path / "server.log", 1, every) as server:
        for url in asked:
            assert server.get(url).status == 200
        assert server.get("/__lbheartbeat__").status == 200  # not an update: not sampled
    # The server has stopped: its shutdown wrote what it sampled.
    found = _impact(module_store, "--kind", "rules", "--row", json.dumps(german_rule()))
    assert (found["replayed"], found["moved"]) == (3, 1)
    assert found["moves"][0]["examples"] == [target("de")]
    refused = run_cli(module_store.url, "impact", "--row", "{nope")
    assert refused.returncode != 0 and len(refused.stderr.strip().splitlines()) == 1
    assert "--row" in refused.stderr


@pytest.fixture
def sampled(admin: AdminClient, fixture_snapshot: dict) -> AdminClient:
    admin.service.import_snapshot(fixture_snapshot, "importer")
    record_sample(admin.service, SAMPLE, keep=1000)
    return admin


def test_the_admin_api_replays_a_scheduled_change(sampled: AdminClient) -> None:
    when = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    sc = sampled.service.schedule_change("rules", "insert", german_rule(), {"when": when}, "alice")
    got = sampled.get(f"/scheduled_changes/rules/{sc.sc_id}/impact", as_user=None)
    assert got.status == 200, got.text
    assert got.json["moved"] == 5 and got.json["by"]["locale"] == {"de": 5}
    missing = sampled.get("/scheduled_changes/rules/999/impact", as_user=None)
    assert missing.status == 404
    proposed = sampled.post(
        "/impact", {"kind": "rules", "change_type": "insert", "row": german_rule(locale="fr")}
    )
    assert proposed.status == 200 and proposed.json["by"]["locale"] == {"fr": 5}
    assert sampled.post("/impact", {"kind": "rules"}).status == 400
    anonymous = sampled.post(
        "/impact", {"kind": "rules", "change_type": "insert", "row": german_rule()}, as_user=None
    )
    assert anonymous.status == 401
    assert sample_of(sampled.service).count() == len(SAMPLE)
