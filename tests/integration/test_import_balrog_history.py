"""``import-balrog`` keeps what Balrog's history tables say beyond the rows themselves.

An edit of a shutoff's comment is imported as the event that records it, so the
shutoff's past reads as Balrog's. Balrog's history routes answer each imported
change with Balrog's ``change_id``, and changes made since with ids above them;
reverts take either. The history of v2 scheduled changes is counted, with the reason
it is not imported. The Balrog side is SQLite and (marked) MariaDB.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from starlette.testclient import TestClient

from rulelog.api.admin.app import AdminSettings, create_admin_app
from rulelog.api.config import open_timeline
from rulelog.api.public import PublicSettings, create_public_app
from rulelog.domain.balrog.rows import (
    UNSUPPORTED_PARTS,
    UNSUPPORTED_TABLES,
    V2_SC_HISTORY_NOT_IMPORTED,
)
from rulelog.services.application import RulelogApp
from tests.balrog.scenarios import build_full_history, build_v2_releases
from tests.balrog.writer import BalrogWriter, create_balrog_db
from tests.conftest import Store
from tests.integration.test_import_balrog import (  # noqa: F401 (fixtures)
    _close_stores,
    differences,
    mariadb_balrog,
    run_import,
)

BETA = {"product": "Firefox", "channel": "beta"}


@pytest.fixture(params=["sqlite", pytest.param("mariadb", marks=pytest.mark.mariadb)])
def balrog_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, Any]]:
    """An empty Balrog database (url, writer) on SQLite or on the MariaDB server."""
    if request.param == "mariadb":
        yield request.getfixturevalue("mariadb_balrog")
        return
    url = f"sqlite:///{tmp_path / 'balrog.db'}"
    writer = BalrogWriter(create_balrog_db(url))
    yield url, writer
    writer.engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("mariadb", marks=pytest.mark.mariadb)])
def full_balrog(request: pytest.FixtureRequest) -> tuple[str, Any]:
    """The whole scenario's Balrog database (url, writer): on SQLite with a releases
    history (as older Balrog kept), on MariaDB without (as current Balrog)."""
    if request.param == "mariadb":
        url, writer = request.getfixturevalue("mariadb_balrog")
        build_full_history(writer)
        return url, writer
    url, writer, _moments = request.getfixturevalue("balrog")
    return url, writer


def balrog_ids(writer: BalrogWriter, table: str, **where: Any) -> list[int]:
    """Balrog's change_ids of ``table``'s history rows that show (a data_version), newest
    first (Balrog orders by timestamp; its ids increase with it)."""
    h = writer.t(f"{table}_history")
    query = select(h.c.change_id).where(h.c.data_version.is_not(None))
    for column, value in where.items():
        query = query.where(h.c[column] == value)
    with writer.engine.connect() as conn:
        return sorted((int(c) for (c,) in conn.execute(query)), reverse=True)


def admin_as(app: RulelogApp, username: str) -> TestClient:
    client = TestClient(create_admin_app(app, AdminSettings()))
    client.headers["Authorization"] = f"Bearer {app.issue_token(username, 'tests')[1]}"
    return client


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat()


def test_shutoff_comment_edits_are_imported_at_their_times(
    store: Store, balrog_db: tuple
) -> None:
    url, writer = balrog_db
    writer.insert("emergency_shutoffs", {**BETA, "comment": "bad build"}, "alice")
    created = writer.now
    writer.update("emergency_shutoffs", BETA, {"comment": "still bad"}, "bob")
    edited = writer.now
    writer.update("emergency_shutoffs", BETA, {"comment": None}, "carol")
    cleared = writer.now
    app = store.open()
    summary = run_import(app, url)
    assert summary.skipped == {}
    assert summary.events["rulelog:emergency-shutoff.comment-changed"] == 2
    assert differences(app, url) == []
    timeline = open_timeline(app)

    def shutoff_at(ms: int) -> tuple[Any, int]:
        row = timeline.state_at(timeline.resolve(iso(ms))).shutoffs[("Firefox", "beta")]
        return row["comment"], row["data_version"]

    assert [shutoff_at(ms) for ms in (created, edited, cleared)] == [
        ("bad build", 1),
        ("still bad", 2),
        (None, 3),
    ]
    # --verify compares the comment: an edit Balrog made since is a difference.
    writer.update("emergency_shutoffs", BETA, {"comment": "after the import"}, "bob")
    found = differences(app, url)
    assert [line for line in found if line.startswith("emergency_shutoffs")] == [
        "emergency_shutoffs Firefox/beta: comment: Balrog 'after the import', rulelog None",
        "emergency_shutoffs Firefox/beta: data_version: Balrog 4, rulelog 3",
    ]
    # ... and a catch-up brings it over as the same event.
    assert run_import(app, url, since_last=True).rows == {"emergency_shutoffs": 1}
    assert differences(app, url) == []


def test_history_routes_answer_balrogs_change_ids(store: Store, full_balrog: tuple) -> None:
    url, writer = full_balrog
    app = store.open()
    run_import(app, url)
    rule_ids = balrog_ids(writer, "rules", rule_id=1)
    top = max(balrog_ids(writer, "rules"))
    with admin_as(app, "alice") as client:
        listed = client.get("/api/rules/1/revisions").json()["rules"]
        assert [r["change_id"] for r in listed] == rule_ids
        history = client.get("/api/rules/history", params={"limit": 1000}).json()
        assert [r["change_id"] for r in history["Rules"]["revisions"]] == balrog_ids(
            writer, "rules"
        )
        (sc1,) = [
            r for r in client.get("/api/scheduled_changes/rules", params={"all": 1}).json()[
                "scheduled_changes"] if r["complete"] and r["change_type"] == "update"
        ]
        sc_listed = client.get(f"/api/scheduled_changes/rules/{sc1['sc_id']}/revisions").json()
        assert [r["change_id"] for r in sc_listed["revisions"]] == balrog_ids(
            writer, "rules_scheduled_changes", sc_id=sc1["sc_id"]
        )
        # A scheduled change's revert takes Balrog's id of one of its revisions.
        pending = client.get("/api/scheduled_changes/rules").json()["scheduled_changes"]
        sc2 = next(r for r in pending if r["telemetry_uptake"] == 50)
        path = f"/api/scheduled_changes/rules/{sc2['sc_id']}/revisions"
        (first,) = balrog_ids(writer, "rules_scheduled_changes", sc_id=sc2["sc_id"])
        assert client.post(path, json={"change_id": first}).status_code == 200
        made = client.get(path).json()["revisions"][0]["change_id"]
        assert made > max(balrog_ids(writer, "rules_scheduled_changes"))
        assert client.post(path, json={"change_id": made}).status_code == 200
        assert client.post(path, json={"change_id": sc1["sc_id"] + 10_000}).status_code == 400
        permissions = client.get("/api/permissions/history", params={"limit": 1000}).json()
        assert [r["change_id"] for r in permissions["Permissions"]["revisions"]] == balrog_ids(
            writer, "permissions"
        )
        policies = client.get("/api/required_signoffs/product/history").json()
        listed_policies = policies["Product Required Signoffs"]["required_signoffs"]
        assert [r["change_id"] for r in listed_policies] == balrog_ids(
            writer, "product_req_signoffs"
        )
        # A revert takes Balrog's id; the change it makes answers an id above them all ...
        # (rule 3: its channel needs no signoffs)
        three = client.get("/api/rules/3/revisions").json()["rules"]
        assert [r["change_id"] for r in three] == balrog_ids(writer, "rules", rule_id=3)
        oldest = three[-1]
        assert client.post("/api/rules/3/revisions", json={"change_id": oldest["change_id"]}
                           ).status_code == 200
        after = client.get("/api/rules/3/revisions").json()["rules"]
        assert after[1:] == three
        newest = after[0]
        assert newest["change_id"] > top and newest["data_version"] == three[0]["data_version"] + 1
        assert newest["priority"] == oldest["priority"] != three[0]["priority"]
        # ... which a revert takes back too, and which stays what it was.
        assert client.post("/api/rules/3/revisions", json={"change_id": three[0]["change_id"]}
                           ).status_code == 200
        again = client.get("/api/rules/3/revisions").json()["rules"]
        assert again[1] == newest and again[0]["change_id"] > newest["change_id"]
        assert client.post("/api/rules/3/revisions", json={"change_id": newest["change_id"]}
                           ).status_code == 200
        assert client.get("/api/rules/3").json()["priority"] == oldest["priority"]
        if writer.has_history("releases"):
            name = "Firefox-121.0-build1"
            releases = client.get(f"/api/releases/{name}/revisions").json()["revisions"]
            assert [r["change_id"] for r in releases] == balrog_ids(writer, "releases", name=name)
            name = "Firefox-119.0-build1"  # mapped by rule 3 alone: no signoffs needed
            releases = client.get(f"/api/releases/{name}/revisions").json()["revisions"]
            path = f"/api/releases/{name}/revisions"
            assert client.post(path, json={"change_id": releases[-1]["change_id"]}
                               ).status_code == 200
            made = client.get(path).json()["revisions"][0]
            assert made["change_id"] > max(balrog_ids(writer, "releases"))
            assert client.post(path, json={"change_id": made["change_id"]}).status_code == 200
    with TestClient(create_public_app(settings=PublicSettings(follow=False), store=app)) as public:
        answer = public.get("/api/v1/rules/1/revisions").json()["rules"]
        assert [r["change_id"] for r in answer][-len(rule_ids):] == rule_ids


def test_v2_scheduled_change_history_is_counted_and_why_it_is_not_imported(
    store: Store, full_balrog: tuple
) -> None:
    url, writer = full_balrog
    build_v2_releases(writer)
    app = store.open()
    summary = run_import(app, url)
    tables = [*UNSUPPORTED_TABLES, *UNSUPPORTED_PARTS]
    with writer.engine.connect() as conn:
        counts = {
            t: conn.execute(select(func.count()).select_from(writer.t(t))).scalar_one()
            for t in tables
        }
    assert counts["release_assets_scheduled_changes_signoffs_history"] > 0
    reported = {
        t: summary.skipped.get(f"{t}: history of v2 scheduled changes, not imported", 0)
        for t in tables
    }
    assert reported == counts
    assert summary.v2_notes[-1] == V2_SC_HISTORY_NOT_IMPORTED
    assert f"  v2: {V2_SC_HISTORY_NOT_IMPORTED}" in summary.lines()
    assert differences(app, url) == []
