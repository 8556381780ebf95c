"""History, audit, diff, sync-status and restore through the real CLI."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import DATA, Store
from tests.e2e.test_cli import ok, run

LATER = {"when": "2099-01-01T00:00:00+00:00"}


def ok_json(store: Store, *args: str) -> Any:
    return json.loads(ok(store, *args, "--json"))


def test_history_audit_diff_sync_and_restore(store: Store) -> None:
    ok(store, "users", "add", "alice", "--admin")
    ok(store, "import", str(DATA / "fixture.json"), "--as", "alice")
    then = f"position:{ok_json(store, 'events', '--limit', '1')[-1]['position']}"
    app = store.open()  # rules have no direct-edit command yet; edit through the API
    app.update_rule(20, 1, {"priority": 101}, "alice")
    sc = app.schedule_change("rules", "update", {"rule_id": 21, "priority": 5}, LATER, "alice", 1)

    revisions = ok_json(store, "history", "rule", "20")
    assert [r["event"] for r in revisions] == ["created", "updated"]
    assert revisions[-1]["changes"] == {"priority": {"from": 100, "to": 101}}
    assert revisions[-1]["row"]["data_version"] == 2 and revisions[-1]["time"]
    assert "priority: 100 -> 101" in ok(store, "history", "rule", "20")
    [release] = ok_json(store, "history", "release", "Firefox-122.0b3-build1")
    assert release["event"] == "created" and release["row"]["product"] == "Firefox"
    [step] = ok_json(store, "history", "sc", "rules", str(sc.sc_id))
    assert step["event"] == "scheduled" and step["changes"]["row.priority"]["to"] == 5

    rows = ok_json(store, "changes", "--since", then, "--kind", "rule")
    assert [(r["what"], r["actor"]) for r in rows] == [("20", "alice")]
    assert [r["kind"] for r in ok_json(store, "changes", "--since", then, "--by", "alice")] == [
        "rule",
        "sc",
    ]
    nightly = ok_json(store, "changes", "--since", then, "--channel", "nightly", "--kind", "rule")
    assert nightly == []

    diff = ok_json(store, "diff", then, "--channel", "beta")
    assert [c["rule_id"] for c in diff["rules"]["changed"]] == [20]
    live = ok_json(store, "diff", "--live", "beta", "--test", "beta-cdntest")
    assert [(p["sc_id"], p["changes"]) for p in live["pending"]] == [
        (sc.sc_id, {"priority": {"from": 110, "to": 5}})
    ]
    assert live["unexplained"] == {}
    status = {c["channel"]: c for c in ok_json(store, "sync-status")["channels"]}
    assert [p["sc_id"] for p in status["beta"]["pending"]] == [sc.sc_id]
    assert status["release"]["in_sync"]

    refused = run(store, "restore", "--channel", "beta", "--to", then, "--as", "alice")
    assert refused.returncode == 4 and "pending" in refused.stderr
    ok(store, "sc", "cancel", "rules", str(sc.sc_id), "--sc-data-version", "1", "--as", "alice")
    restored = ok_json(store, "restore", "--channel", "beta", "--to", then, "--as", "alice")
    [change] = restored["changes"]
    assert (change["change_type"], change["rule_id"]) == ("update", 20)
    assert change["changes"] == {"priority": {"from": 101, "to": 100}}
    pending = ok_json(store, "sc", "list")
    assert [(p["sc_id"], p["row"]["priority"]) for p in pending] == [(change["sc_id"], 100)]


@pytest.mark.parametrize(
    ("args", "code", "fragment"),
    [
        (("diff", "yesterday"), 2, "at:"),
        (("diff", "--live", "release"), 2, "--test"),
        (("history", "rule", "no-such-rule"), 3, "rule no-such-rule does not exist"),
        (("history", "sc", "bogus", "1"), 2, "'bogus' is not one of"),
        (("changes", "--kind", "bogus"), 2, "kind:"),
        (("sync-status", "--at", "position:99"), 2, "beyond the log"),
        (("restore", "--channel", "release", "--to", "whenever", "--as", "a"), 2, "at:"),
    ],
)
def test_bad_input_is_one_line(
    store: Store, args: tuple[str, ...], code: int, fragment: str
) -> None:
    result = run(store, *args)
    assert result.returncode == code, result.stderr
    assert fragment in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
