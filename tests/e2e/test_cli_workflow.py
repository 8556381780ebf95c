"""The change workflow through the real CLI: users, policies, scheduling, agent."""

from __future__ import annotations

import json

from tests.conftest import DATA, Store
from tests.e2e.test_cli import ok, run


def test_schedule_sign_off_and_enact_through_the_cli(store: Store) -> None:
    ok(store, "users", "add", "admin", "--admin")
    ok(store, "import", str(DATA / "fixture.json"), "--as", "admin")
    for user, role in (("rm", "relman"), ("qa", "qa")):
        ok(store, "users", "grant", user, "rule", "--products", "Firefox", "--as", "admin")
        ok(store, "users", "roles", user, "--grant", role, "--as", "admin")
    ok(store, "users", "grant", "robot", "scheduled_change", "--actions", "enact", "--as", "admin")
    ok(
        store,
        "signoffs",
        "required",
        "add",
        "product",
        "--product",
        "Firefox",
        "--channel",
        "release",
        "--role",
        "relman",
        "--count",
        "1",
        "--as",
        "admin",
    )
    users = json.loads(ok(store, "users", "list", "--json"))
    assert users["rm"]["roles"] == {"relman": {"data_version": 1}}

    scheduled = json.loads(
        ok(
            store,
            "sc",
            "schedule",
            "rules",
            "update",
            "--row",
            '{"rule_id": 1, "priority": 91}',
            "--data-version",
            "1",
            "--uptake",
            "Firefox",
            "release",
            "50",
            "--as",
            "rm",
            "--json",
        )
    )
    sc_id = str(scheduled["sc_id"])
    assert scheduled["signoffs"] == {"rm": "relman"}
    shown = json.loads(ok(store, "sc", "show", "rules", sc_id, "--json"))
    assert shown["missing_signoffs"] == {}
    assert "waiting_for_uptake=1" in ok(store, "agent", "--once", "--as", "robot")
    ok(store, "uptake", "report", "Firefox", "release", "60", "--as", "robot")
    assert "enacted=1" in ok(store, "agent", "--once", "--as", "robot")
    rule = json.loads(ok(store, "rules", "show", "1", "--json"))
    assert (rule["priority"], rule["data_version"]) == (91, 2)
    listed = json.loads(ok(store, "sc", "list", "--all", "--json"))
    assert [(s["sc_id"], s["status"]) for s in listed] == [(int(sc_id), "enacted")]


def test_workflow_errors_are_one_line(store: Store) -> None:
    ok(store, "users", "add", "admin", "--admin")
    ok(store, "import", str(DATA / "fixture.json"), "--as", "admin")
    cases = [
        (
            (
                "sc",
                "schedule",
                "rules",
                "update",
                "--row",
                '{"rule_id": 1}',
                "--data-version",
                "1",
                "--when",
                "2001-01-01T00:00:00Z",
                "--as",
                "admin",
            ),
            2,
            "past",
        ),
        (
            (
                "sc",
                "schedule",
                "rules",
                "update",
                "--row",
                "{not json",
                "--when",
                "1",
                "--as",
                "admin",
            ),
            2,
            "not valid JSON",
        ),
        (("sc", "show", "rules", "99"), 3, "does not exist"),
        (("sc", "signoff", "rules", "1", "--role", "x", "--as", "admin"), 3, "does not exist"),
        (("users", "grant", "bob", "rule", "--as", "nobody"), 5, "not allowed"),
        (("users", "grant", "bob", "bogus", "--as", "admin"), 2, "Unknown permission"),
    ]
    for args, code, fragment in cases:
        result = run(store, *args)
        assert result.returncode == code, (args, result.stderr)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and fragment in lines[0], (args, result.stderr)
