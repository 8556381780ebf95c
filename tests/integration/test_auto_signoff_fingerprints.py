"""Automatic signoffs are verified: they record the test views they were given on.

A scheduler holding a required role signs off automatically, on the test view
*with* the change in it. Through the CLI (``sc schedule``) and the admin API
(``POST /api/scheduled_changes/rules``) that signoff records the fingerprint
of that view, so the agent enacts the change with no ``unverified_signoffs``,
and refuses it (policy ``refuse``) if the view changed since. On SQLite and
PostgreSQL.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from click.testing import CliRunner
from starlette.testclient import TestClient

from rulelog.api.admin.app import AdminSettings, create_admin_app
from rulelog.api.cli import main
from rulelog.api.config import open_timeline
from rulelog.domain.workflow.scheduling import ScheduledChange
from rulelog.projections.log import read_log
from rulelog.projections.state import Catalog
from rulelog.projections.views import derived_view
from rulelog.services.agent import Agent
from rulelog.services.application import RulelogApp
from rulelog.services.verification import verify_scheduler_signoffs
from tests.conftest import Store
from tests.integration.relman_support import relman_guarded

NOW = datetime.now(tz=UTC)
WHEN = NOW + timedelta(hours=1)
DUE = NOW + timedelta(hours=2)


@pytest.fixture
def af(app: RulelogApp, fixture_snapshot: dict[str, Any]) -> RulelogApp:
    """Fixture data; Firefox release needs one relman signoff; rm holds relman."""
    return relman_guarded(app, fixture_snapshot)


def via_cli(store: Store, app: RulelogApp, rule_id: int, priority: int) -> int:
    row = json.dumps({"rule_id": rule_id, "priority": priority})
    version = str(app.get_rule(rule_id).data_version)
    args = ["--database-url", store.url, "sc", "schedule", "rules", "update", "--row", row]
    args += ["--data-version", version, "--when", WHEN.isoformat(), "--as", "rm", "--json"]
    result = CliRunner().invoke(main, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return int(json.loads(result.output)["sc_id"])


@pytest.fixture
def http(af: RulelogApp) -> Iterator[TestClient]:
    client = TestClient(create_admin_app(af, AdminSettings()))
    client.headers["Authorization"] = f"Bearer {af.issue_token('rm', 'tests')[1]}"
    with client:
        yield client


def via_http(client: TestClient, app: RulelogApp, rule_id: int, priority: int) -> int:
    body = {
        "change_type": "update",
        "when": int(WHEN.timestamp() * 1000),
        "rule_id": rule_id,
        "priority": priority,
        "data_version": app.get_rule(rule_id).data_version,
    }
    answer = client.post("/api/scheduled_changes/rules", json=body)
    assert answer.status_code == 200, answer.text
    assert answer.json()["signoffs"] == {"rm": "relman"}
    return int(answer.json()["sc_id"])


Scheduler = Callable[[int, int], int]


@pytest.fixture(params=["cli", "http"])
def schedule(request: pytest.FixtureRequest, store: Store, af: RulelogApp) -> Iterator[Scheduler]:
    if request.param == "cli":
        yield lambda rule_id, priority: via_cli(store, af, rule_id, priority)
    else:
        client = request.getfixturevalue("http")
        yield lambda rule_id, priority: via_http(client, af, rule_id, priority)


def state(app: RulelogApp) -> Catalog:
    return Catalog().fold(read_log(app))


def enact_due(app: RulelogApp) -> Any:
    return Agent(app, "robot", policy="refuse").run_pass(now=DUE)


def test_an_auto_signoff_records_the_test_view_with_the_change_in_it(
    af: RulelogApp, schedule: Scheduler
) -> None:
    sc_id = schedule(1, 91)
    sc = af.get_scheduled_change("rules", sc_id)
    assert sc.signoffs == {"rm": "relman"}
    tested = derived_view(state(af), "release")
    assert [o["sc_id"] for o in tested.overlays] == [sc_id]  # the change is in the view
    assert sc.signoff_fingerprints == {"rm": {"release": tested.fingerprint()}}

    report = enact_due(af)
    assert report.enacted == [[("rules", sc_id)]]
    enacted = af.get_scheduled_change("rules", sc_id)
    assert enacted.verification["unverified_signoffs"] == []
    assert enacted.verification["channels"]["release"]["signed_off"] == {"rm": tested.fingerprint()}
    assert af.get_rule(1).fields["priority"] == 91


def test_the_agent_refuses_when_the_view_changed_since_scheduling(
    af: RulelogApp, schedule: Scheduler
) -> None:
    first = schedule(1, 91)
    # Another change on release (not due yet) changes the test view rm signed off on.
    later = {"when": (NOW + timedelta(hours=5)).isoformat()}
    other = af.schedule_change("rules", "update", {"rule_id": 2, "priority": 92}, later, "alice", 1)
    report = enact_due(af)
    assert report.decisions["fingerprint_changed"] == 1 and report.enacted == []
    assert af.get_scheduled_change("rules", first).pending
    assert af.get_rule(1).fields["priority"] == 90
    af.cancel_scheduled_change("rules", other.sc_id, 1, "alice")  # the view is rm's again
    assert enact_due(af).enacted == [[("rules", first)]]


def test_a_change_modified_before_the_views_are_recorded_stays_unverified(
    af: RulelogApp,
) -> None:
    sc = af.schedule_change(
        "rules", "update", {"rule_id": 1, "priority": 91}, {"when": WHEN.isoformat()}, "rm", 1
    )
    af.modify_scheduled_change("rules", sc.sc_id, 1, "alice", row={"priority": 93})
    [after] = verify_scheduler_signoffs(af, open_timeline(af), [sc])
    assert after.data_version == 2 and after.signoffs == {}
    assert after.signoff_fingerprints == {}


def _two_enacted_changes(af: RulelogApp) -> str:
    """Rules 1 and 2 changed (signed off, enacted); returns the position before them."""
    then = f"position:{af.recorder.max_notification_id()}"
    for rule_id, priority in ((1, 91), (2, 92)):
        sc = af.schedule_change(
            "rules",
            "update",
            {"rule_id": rule_id, "priority": priority},
            {"when": WHEN.isoformat()},
            "rm",
            1,
        )
        af.sign_off("rules", sc.sc_id, "relman", "rm")
        af.enact_scheduled_change("rules", sc.sc_id, "robot")
    return then


def _restore_via_cli(store: Store, then: str) -> list[int]:
    args = ["--database-url", store.url, "restore", "--channel", "release", "--to", then]
    result = CliRunner().invoke(main, [*args, "--as", "rm", "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return [c["sc_id"] for c in json.loads(result.output)["changes"]]


def _restore_via_http(client: TestClient, then: str) -> list[int]:
    answer = client.post("/api/timeline/restore", json={"channel": "release", "to": then})
    assert answer.status_code == 200, answer.text
    return [c["sc_id"] for c in answer.json()["changes"]]


@pytest.mark.parametrize("via", ["cli", "http"])
def test_restore_auto_signoffs_are_on_the_views_with_every_change_of_it(
    request: pytest.FixtureRequest, store: Store, af: RulelogApp, via: str
) -> None:
    then = _two_enacted_changes(af)
    if via == "cli":
        sc_ids = _restore_via_cli(store, then)
    else:
        sc_ids = _restore_via_http(request.getfixturevalue("http"), then)
    assert len(sc_ids) == 2
    tested = derived_view(state(af), "release").fingerprint()
    for sc_id in sc_ids:
        restored: ScheduledChange = af.get_scheduled_change("rules", sc_id)
        assert restored.signoff_fingerprints == {"rm": {"release": tested}}
    report = Agent(af, "robot", policy="refuse").run_pass(now=NOW + timedelta(hours=3))
    assert report.enacted == [[("rules", i) for i in sc_ids]]
    assert af.get_rule(1).fields["priority"] == 90 and af.get_rule(2).fields["priority"] != 92
