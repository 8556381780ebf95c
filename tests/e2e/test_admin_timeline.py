"""``/api/timeline/*`` and ``/api/uptake`` over real HTTP, against the CLI's own answers.

Every read is compared, for several points in time given every way ``at``
can be written, with what the projection functions the CLI calls answer on
the same store (and twice with the ``rulelog`` command itself), so HTTP and
CLI cannot drift apart. Writes: restore schedules and never applies; both
need a verified identity and the domain's permissions.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import pytest
from pydantic import TypeAdapter

from rulelog.api.admin import timeline_schemas as models
from rulelog.api.config import open_timeline
from rulelog.projections.at import release_at, rules_at
from rulelog.projections.audit import changes
from rulelog.projections.diff import diff_states, live_test_diff, sync_status
from rulelog.projections.explain import explain
from rulelog.projections.log import last_position
from rulelog.projections.timeline import Timeline
from rulelog.services.restore import restore_channel
from tests.conftest import Store
from tests.e2e.conftest import AdminClient, Answer
from tests.e2e.test_cli import ok

LATER = {"when": "2099-01-01T00:00:00+00:00"}
RELEASE = "Firefox-121.0-build1"
URL = (
    "/update/6/Firefox/120.0/20231116134553/WINNT_x86_64-msvc-x64/en-US/{channel}/"
    "Windows_NT%2010.0.0.0.22631.2861%20(x64)/ISET:SSE4_2,MEM:16384/default/default/"
    "update.xml?force=1"
)
#: An update URL that routes only once its repeated slashes are merged.
DOUBLED = URL.format(channel="release").replace("/Firefox/", "//Firefox/")


def same(value: Any) -> Any:
    """``value`` as JSON carries it (the CLI's ``--json`` encoding)."""
    return json.loads(json.dumps(value, default=str))


@dataclass
class History:
    """A store with a past: the positions of its steps and ``at`` values for them."""

    timeline: Timeline
    imported: int
    updated: int
    scheduled: int
    sc_id: int

    def iso(self, position: int) -> str:
        moment = self.timeline.time_of(position)
        assert moment is not None
        return moment.isoformat()

    def epoch_ms(self, position: int) -> str:
        moment = self.timeline.time_of(position)
        assert moment is not None
        return str(int(moment.timestamp() * 1000) + 1)

    def points(self) -> list[str | None]:
        """The import by position, the rule update by ISO time, the release respin
        by epoch milliseconds, and now (no ``at``)."""
        return [
            f"position:{self.imported}",
            self.iso(self.updated),
            self.epoch_ms(self.updated + 1),
            None,
        ]


@pytest.fixture
def history(admin: AdminClient, fixture_snapshot: dict[str, Any]) -> History:
    service = admin.service
    service.import_snapshot(fixture_snapshot, "importer")
    imported = last_position(service)
    service.update_rule(20, 1, {"priority": 101}, "alice")
    updated = last_position(service)
    blob = copy.deepcopy(service.get_release(RELEASE).blob)
    blob["displayVersion"] = "121.0 respin"
    service.replace_release_blob(RELEASE, 1, blob, "alice")
    service.create_shutoff("Firefox", "nightly", "alice")
    sc = service.schedule_change(
        "rules", "update", {"rule_id": 21, "priority": 5}, LATER, "alice", 1
    )
    scheduled = last_position(service)
    service.delete_rule(32, 1, "alice")
    timeline = open_timeline(service)
    timeline.catch_up()
    return History(timeline, imported, updated, scheduled, sc.sc_id)


def query(**params: Any) -> dict[str, Any]:
    return {k: v for k, v in params.items() if v is not None}


def got(answer: Answer) -> Any:
    assert answer.status == 200, answer.text
    assert answer.headers["Content-Type"] == "application/json"
    return answer.json


# ------------------------------------------------------------------ reads


def test_rules_and_releases_at_each_time_match_the_projections(
    admin: AdminClient, history: History
) -> None:
    tl = history.timeline
    for at in history.points():
        for channel in (None, "beta", "beta-cdntest", "release*"):
            answer = admin.get("/timeline/rules", query=query(at=at, channel=channel), as_user=None)
            assert got(answer) == same(rules_at(tl, at, channel)), (at, channel)
        answer = admin.get(f"/timeline/releases/{RELEASE}", query=query(at=at), as_user=None)
        assert got(answer) == same(release_at(admin.service, tl, at, RELEASE)), at

    def priority(at: str | None, rule_id: int, channel: str = "beta") -> int:
        answer = got(
            admin.get("/timeline/rules", query=query(at=at, channel=channel), as_user=None)
        )
        return next(r["priority"] for r in answer["rules"] if r["rule_id"] == rule_id)

    before, now = f"position:{history.imported}", None
    assert (priority(before, 20), priority(now, 20)) == (100, 101)
    assert (priority(now, 21), priority(now, 21, "beta-cdntest")) == (110, 5)
    then = got(admin.get("/timeline/rules", query={"at": before}, as_user=None))
    assert then["position"] == history.imported and len(then["rules"]) == 33
    test_view = got(admin.get("/timeline/rules", query={"channel": "beta-cdntest"}, as_user=None))
    assert test_view["live_channel"] == "beta"
    assert [o["sc_id"] for o in test_view["overlays"]] == [history.sc_id]
    shown = [
        got(admin.get(f"/timeline/releases/{RELEASE}", query=query(at=at), as_user=None))
        for at in (before, None)
    ]
    assert [s["data"]["displayVersion"] for s in shown] == ["121.0", "121.0 respin"]


def test_at_answers_are_the_cli_answers(admin: AdminClient, history: History, store: Store) -> None:
    at = history.iso(history.scheduled)
    cli = json.loads(ok(store, "at", at, "rules", "--channel", "beta-cdntest", "--json"))
    http = admin.get("/timeline/rules", query={"at": at, "channel": "beta-cdntest"}, as_user=None)
    assert got(http) == cli and cli["overlays"]
    at = f"position:{history.imported}"
    cli = json.loads(ok(store, "at", at, "releases", RELEASE, "--json"))
    assert got(admin.get(f"/timeline/releases/{RELEASE}", query={"at": at}, as_user=None)) == cli


def test_changes_diff_sync_status_and_explain_match_the_projections(
    admin: AdminClient, history: History
) -> None:
    service, tl = admin.service, history.timeline
    admin.token_for("alice")  # issued before the feed is read twice
    for at in history.points():
        rows = got(admin.get("/timeline/changes", query=query(since=at), as_user=None))
        assert rows == same(changes(service, tl, at, with_access=False)), at  # no grants
        rows = got(admin.get("/timeline/changes", query=query(since=at)))  # alice: admin
        assert rows == same(changes(service, tl, at)), at
        status = got(admin.get("/timeline/sync-status", query=query(at=at), as_user=None))
        assert status == same(sync_status(tl, at)), at
        live = got(
            admin.get(
                "/timeline/diff", query=query(live="beta", test="beta-cdntest", at=at), as_user=None
            )
        )
        assert live == same(live_test_diff(tl, "beta", "beta-cdntest", at)), at
        for channel in ("release", "beta-localtest"):
            url = URL.format(channel=channel)
            told = got(admin.get("/timeline/explain", query=query(url=url, at=at), as_user=None))
            assert told == same(explain(service, tl, url, at)), (at, channel)
        if at is None:
            continue
        for channel in (None, "beta", "nightly"):
            diff = got(
                admin.get(
                    "/timeline/diff", query=query(**{"from": at}, channel=channel), as_user=None
                )
            )
            assert diff == same(diff_states(tl, at, None, channel)), (at, channel)

    since = f"position:{history.imported}"
    filters: list[dict[str, Any]] = [
        {"kind": ["rule"]},
        {"kind": ["rules", "emergency_shutoff"]},
        {"by": "alice", "channel": "beta"},
        {"product": "Thunderbird", "until": f"position:{history.scheduled}"},
    ]
    for chosen in filters:
        target = "/timeline/changes?" + urlencode({"since": since, **chosen}, doseq=True)
        rows = got(admin.get(target, as_user=None))
        kinds = chosen.pop("kind", ())
        expected = changes(service, tl, since, kinds=kinds, with_access=False, **chosen)
        assert rows == same(expected), chosen
    rule_rows = got(
        admin.get("/timeline/changes", query={"since": since, "kind": "rule"}, as_user=None)
    )
    assert [(r["what"], r["event"]) for r in rule_rows] == [("20", "updated"), ("32", "deleted")]
    diff = got(admin.get("/timeline/diff", query={"from": since, "channel": "beta"}, as_user=None))
    assert [c["rule_id"] for c in diff["rules"]["changed"]] == [20]
    status = {
        c["channel"]: c for c in got(admin.get("/timeline/sync-status", as_user=None))["channels"]
    }
    assert [p["sc_id"] for p in status["beta"]["pending"]] == [history.sc_id]
    told = got(
        admin.get(
            "/timeline/explain",
            query={"url": URL.format(channel="release"), "header": "User-Agent:Firefox/120.0"},
            as_user=None,
        )
    )
    assert told["response"]["headers"]["Rule-ID"] == str(
        told["matched_rules"][0]["rule"]["rule_id"]
    )
    assert told["matched_rules"][0]["put_in_place_by"]["actor"] == "importer"


def test_answers_are_what_the_openapi_document_says(admin: AdminClient, history: History) -> None:
    """Each route's answer validates against its documented response model."""
    since = f"position:{history.imported}"
    reads: list[tuple[str, dict[str, Any], Any]] = [
        ("/timeline/rules", {}, models.RulesAt),
        ("/timeline/rules", {"channel": "beta-cdntest"}, models.RulesAt),
        (f"/timeline/releases/{RELEASE}", {}, models.ReleaseAt),
        ("/timeline/changes", {"since": since}, list[models.ChangeRow]),
        ("/timeline/diff", {"from": since, "channel": "beta"}, models.StatesDiff),
        ("/timeline/diff", {"live": "beta", "test": "beta-cdntest"}, models.LiveTestDiff),
        ("/timeline/sync-status", {}, models.SyncStatus),
        ("/timeline/explain", {"url": URL.format(channel="beta-cdntest")}, models.Explanation),
    ]
    for path, params, model in reads:
        answer = got(admin.get(path, query=params, as_user=None))
        assert answer and TypeAdapter(model).validate_python(answer), path
    admin.service.cancel_scheduled_change("rules", history.sc_id, 1, "alice")
    restored = got(admin.post("/timeline/restore", {"channel": "beta", "to": since}))
    assert models.RestoreResult.model_validate(restored).changes
    uptake = got(admin.post("/uptake", {"product": "Firefox", "channel": "beta", "percent": 9}))
    models.UptakeOut.model_validate(uptake)


@pytest.mark.parametrize(
    ("path", "params", "status", "fragment"),
    [
        ("/timeline/rules", {"at": "yesterday"}, 400, "at: 'yesterday' is not position:N"),
        ("/timeline/rules", {"at": "position:999999"}, 400, "beyond the log"),
        ("/timeline/rules", {"at": ""}, 400, "at: '' is not"),
        ("/timeline/rules", {"channel": "no-such-channel"}, 404, "channel no-such-channel"),
        ("/timeline/rules", {"channel": "no-such-cdntest"}, 404, "is unknown at position"),
        ("/timeline/releases/No-Such-Release", {}, 404, "release No-Such-Release did not"),
        ("/timeline/releases/" + RELEASE, {"at": "position:1"}, 404, "did not exist"),
        ("/timeline/changes", {"since": "soon"}, 400, "since: 'soon'"),
        ("/timeline/changes", {"until": "position:999999"}, 400, "until: position 999999"),
        ("/timeline/changes", {"since": "position:40", "until": "position:30"}, 400, "before"),
        ("/timeline/changes", {"kind": "bogus"}, 400, "kind: must be one of"),
        ("/timeline/diff", {}, 400, "diff: give from"),
        ("/timeline/diff", {"from": "whenever"}, 400, "from: 'whenever'"),
        ("/timeline/diff", {"from": "position:1", "to": "later"}, 400, "to: 'later'"),
        ("/timeline/diff", {"from": "position:1", "channel": "nope"}, 404, "channel nope"),
        ("/timeline/diff", {"live": "beta"}, 400, "diff: give live and test"),
        ("/timeline/diff", {"live": "beta", "test": "release-cdntest"}, 400, "not a test"),
        ("/timeline/diff", {"live": "nope", "test": "nope-cdntest"}, 404, "channel nope"),
        ("/timeline/sync-status", {"at": "x"}, 400, "at: 'x'"),
        ("/timeline/explain", {}, 400, "url"),
        ("/timeline/explain", {"url": "/nothing/here"}, 400, "url: not an update request"),
        ("/timeline/explain", {"url": "//update/6/x"}, 400, "url: not an update request"),
        ("/timeline/explain", {"url": DOUBLED}, 400, "url: repeated slashes; did you mean /"),
        (
            "/timeline/explain",
            {"url": URL.format(channel="release"), "header": "nocolon"},
            400,
            "header: expected NAME:VALUE",
        ),
        ("/timeline/explain", {"url": URL.format(channel="release"), "at": "y"}, 400, "at: 'y'"),
    ],
)
def test_read_errors_are_problem_documents(
    admin: AdminClient,
    history: History,
    path: str,
    params: dict[str, Any],
    status: int,
    fragment: str,
) -> None:
    before = admin.event_count()
    answer = admin.get(path, query=params, as_user=None)
    assert answer.status == status, answer.text
    problem = answer.json
    assert problem["status"] == status and problem["type"] == "about:blank"
    assert fragment in problem["detail"], problem
    assert admin.event_count() == before


# ----------------------------------------------------------------- restore


def test_restore_schedules_and_never_applies(admin: AdminClient, history: History) -> None:
    service, to = admin.service, f"position:{history.imported}"
    refused = admin.post("/timeline/restore", {"channel": "beta", "to": to})
    assert refused.status == 400 and "pending rule change" in refused.json["detail"]
    service.cancel_scheduled_change("rules", history.sc_id, 1, "alice")

    before = admin.event_count()
    dry = got(admin.post("/timeline/restore", {"channel": "beta", "to": to, "dry_run": True}))
    assert admin.event_count() == before
    expected = same(restore_channel(service, history.timeline, "beta", to, "alice", dry_run=True))
    assert {**dry, "when": None} == {**expected, "when": None}
    assert [(c["change_type"], c["rule_id"], c["sc_id"]) for c in dry["changes"]] == [
        ("update", 20, None)
    ]

    done = got(admin.post("/timeline/restore", {"channel": "beta", "to": to, "delay": 30}))
    [change] = done["changes"]
    assert change["changes"] == {"priority": {"from": 101, "to": 100}}
    assert done["to"]["position"] == history.imported and not done["dry_run"]
    sc = service.get_scheduled_change("rules", change["sc_id"])
    assert sc.row["priority"] == 100 and sc.scheduled_by == "alice"
    assert service.get_rule(20).fields["priority"] == 101  # scheduled, not applied
    again = got(admin.get("/timeline/sync-status", as_user=None))
    beta = next(c for c in again["channels"] if c["channel"] == "beta")
    assert [p["sc_id"] for p in beta["pending"]] == [change["sc_id"]]


@pytest.mark.parametrize(
    ("body", "status", "fragment"),
    [
        ({"channel": "beta", "to": "never"}, 400, "to: 'never'"),
        ({"channel": "beta"}, 400, "to"),
        ({"channel": "beta", "to": "position:1", "delay": 0}, 400, "delay"),
        ({"channel": "beta", "to": "position:1", "dry_run": "yes"}, 400, "dry_run"),
        ({"channel": "beta-cdntest", "to": "position:1"}, 400, "is a test channel"),
        ({"channel": "nowhere", "to": "position:1"}, 404, "channel nowhere is unknown"),
    ],
)
def test_restore_bad_input(
    admin: AdminClient, history: History, body: dict[str, Any], status: int, fragment: str
) -> None:
    admin.token_for("alice")
    before = admin.event_count()
    answer = admin.post("/timeline/restore", body)
    assert answer.status == status, answer.text
    assert fragment in answer.json["detail"]
    assert admin.event_count() == before


def test_restore_needs_an_identity_and_the_permission(admin: AdminClient, history: History) -> None:
    service = admin.service
    service.cancel_scheduled_change("rules", history.sc_id, 1, "alice")
    service.grant_permission("releng", "release", {"products": ["Firefox"]}, "alice")
    for user in ("bob", "releng"):
        admin.token_for(user)
    body = {"channel": "beta", "to": f"position:{history.imported}"}
    before = admin.event_count()
    assert admin.post("/timeline/restore", body, as_user=None).status == 401
    assert admin.post("/timeline/restore", body, as_user="bob").status == 403
    denied = admin.post("/timeline/restore", body, as_user="releng")
    assert denied.status == 403 and "releng" in denied.json["exception"]
    assert admin.event_count() == before
    service.grant_permission("releng", "rule", {"products": ["Firefox"]}, "alice")
    assert got(admin.post("/timeline/restore", body, as_user="releng"))["changes"][0]["sc_id"]


# ------------------------------------------------------------------ uptake


def test_uptake_report(admin: AdminClient) -> None:
    answer = got(admin.post("/uptake", {"product": "Firefox", "channel": "release", "percent": 60}))
    assert answer == {"product": "Firefox", "channel": "release", "percent": 60.0}
    assert admin.service.uptake_of("Firefox", "release") == 60.0
    got(admin.post("/uptake", {"product": "Firefox", "channel": "release", "percent": 72.5}))
    assert admin.service.uptake_of("Firefox", "release") == 72.5


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"product": "Firefox", "channel": "release", "percent": 101}, "percent: must be betw"),
        ({"product": "Firefox", "channel": "release", "percent": "60"}, "percent"),
        ({"product": "Firefox", "channel": "release"}, "percent"),
        ({"product": "", "channel": "release", "percent": 1}, "product"),
        ({"product": "Firefox", "channel": "release", "percent": 1, "extra": 1}, "extra"),
    ],
)
def test_uptake_bad_input(admin: AdminClient, body: dict[str, Any], fragment: str) -> None:
    admin.token_for("alice")
    before = admin.event_count()
    answer = admin.post("/uptake", body)
    assert answer.status == 400, answer.text
    assert fragment in answer.json["detail"]
    assert admin.event_count() == before


def test_uptake_needs_an_identity_and_enact(admin: AdminClient) -> None:
    service = admin.service
    service.grant_permission("releng", "rule", {"products": ["Firefox"]}, "alice")
    for user in ("bob", "releng"):
        admin.token_for(user)
    body = {"product": "Firefox", "channel": "release", "percent": 50}
    before = admin.event_count()
    assert admin.post("/uptake", body, as_user=None).status == 401
    assert admin.post("/uptake", body, as_user="bob").status == 403
    assert admin.post("/uptake", body, as_user="releng").status == 403
    assert admin.event_count() == before and service.uptake_of("Firefox", "release") is None
    service.grant_permission("releng", "scheduled_change", {"actions": ["enact"]}, "alice")
    assert got(admin.post("/uptake", body, as_user="releng"))["percent"] == 50.0


def test_openapi_documents_the_routes(admin: AdminClient) -> None:
    spec = got(admin.get("/openapi.json", as_user=None))
    paths = spec["paths"]
    for path in ("/rules", "/releases/{name}", "/changes", "/diff", "/sync-status", "/explain"):
        operation = paths["/api/timeline" + path]["get"]
        assert {"200", "400", "404"} <= set(operation["responses"]), path
        assert "$ref" in json.dumps(operation["responses"]["200"]), path
    for path in ("/api/timeline/restore", "/api/uptake"):
        operation = paths[path]["post"]
        assert {"200", "400", "401", "403"} <= set(operation["responses"]), path
        assert "requestBody" in operation
    schemas = spec["components"]["schemas"]
    assert "from" in schemas["StatesDiff"]["properties"]
