"""``rulelog import-balrog`` as a user runs it, and the admin API on the imported past."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import update

from tests.balrog.points import balrog_rules_at, comparable, rule_times
from tests.conftest import Store
from tests.e2e.conftest import AdminClient, AdminServer
from tests.e2e.test_cli import ok, run
from tests.integration.test_import_balrog import run_import

EXPLAINED = (
    "/update/6/Firefox/119.0/20231016134553/WINNT_x86_64-msvc-x64/en-US/release/"
    "Windows_NT%2010.0.0.0.22631.2861%20(x64)/ISET:SSE4_2,MEM:16384/default/default/"
    "update.xml?force=1"
)


def one_line_failure(result: object, code: int, *words: str) -> None:
    assert result.returncode == code, result.stderr  # type: ignore[attr-defined]
    lines = result.stderr.strip().splitlines()  # type: ignore[attr-defined]
    assert len(lines) == 1, result.stderr  # type: ignore[attr-defined]
    for word in words:
        assert word in lines[0]


def event_count(store: Store) -> int:
    return len(ok(store, "events", "--limit", "100000").strip().splitlines()) - 1


def test_import_summary_verify_and_the_past(store: Store, balrog: tuple) -> None:
    url, writer, moments = balrog
    summary = json.loads(ok(store, "import-balrog", "--from", url, "--json"))
    assert summary["mode"] == "import" and summary["events_total"] > 100
    assert summary["rows"]["rules"] == 14 and summary["without_history"] == {}
    assert summary["time_range"]["first"].startswith("2023-11-14T22:13")
    assert "no differences" in ok(store, "import-balrog", "--from", url, "--verify")
    # at T, for every T Balrog recorded a rules change
    for ms in rule_times(writer.engine)[::3]:
        got = json.loads(ok(store, "at", str(ms), "rules", "--json"))
        ours = {r["rule_id"]: comparable(r) for r in got["rules"]}
        assert ours == {k: comparable(v) for k, v in balrog_rules_at(writer.engine, ms).items()}
    # explain at a time long before the import
    told = json.loads(ok(store, "explain", EXPLAINED, "--at", str(moments["rules_edited"]),
                         "--json"))
    assert told["response"]["headers"]["Rule-ID"] == "1"
    assert told["response"]["headers"]["Rule-Data-Version"] == "2"
    # Balrog moves on; verify sees it, exit 1, every difference printed
    t = writer.t("rules")
    with writer.engine.begin() as conn:
        conn.execute(update(t).where(t.c.rule_id == 1).values(priority=1, data_version=99))
    result = run(store, "import-balrog", "--from", url, "--verify")
    assert result.returncode == 1
    assert "rules 1: data_version: Balrog 99, rulelog 4" in result.stdout
    assert "rules 1: priority: Balrog 1, rulelog 100" in result.stdout


def test_refusals_are_one_line_and_store_nothing(store: Store, balrog: tuple,
                                                 tmp_path: Path) -> None:
    url, writer, _ = balrog
    other = tmp_path / "other.db"
    other.write_bytes(b"")
    one_line_failure(run(store, "import-balrog", "--from", f"sqlite:///{other}"), 2,
                     "is not a Balrog database")
    one_line_failure(run(store, "import-balrog", "--from", "mysql+pymysql://root@127.0.0.1:1/x"),
                     2, "cannot read the Balrog database")
    t = writer.t("releases")
    with writer.engine.begin() as conn:
        conn.execute(update(t).where(t.c.name == "Firefox-120.0-build1").values(product="Other"))
    one_line_failure(run(store, "import-balrog", "--from", url), 2,
                     "releases Firefox-120.0-build1: product")
    assert event_count(store) == 0
    with writer.engine.begin() as conn:
        conn.execute(update(t).where(t.c.name == "Firefox-120.0-build1").values(
            product="Firefox"))
    ok(store, "users", "add", "someone", "--admin")
    before = event_count(store)
    one_line_failure(run(store, "import-balrog", "--from", url), 4, "not empty")
    assert event_count(store) == before


def test_admin_api_answers_for_the_imported_past(
    admin_server: AdminServer, store: Store, balrog: tuple
) -> None:
    url, writer, _ = balrog
    service = store.open()
    run_import(service, url)
    admin_server.use(service)
    client = AdminClient(admin_server.port, service)
    try:
        for ms in rule_times(writer.engine)[::2]:
            got = client.get("/rules", query={"timestamp": ms}, as_user=None).json
            theirs = balrog_rules_at(writer.engine, ms, whole_rows=True)
            assert {r["rule_id"] for r in got["rules"]} == set(theirs)
            for row in got["rules"]:
                balrog_row = theirs[row["rule_id"]]
                # change_id is rulelog's position (unique, increasing), not Balrog's id.
                assert comparable(row) == comparable(balrog_row), ms
                assert (row["changed_by"], row["timestamp"]) == (
                    balrog_row["changed_by"], balrog_row["timestamp"])
        revisions = client.get("/rules/1/revisions", as_user=None).json
        assert [r["data_version"] for r in revisions["rules"]] == [4, 3, 2, 1]
        assert [r["changed_by"] for r in revisions["rules"]][-1] == "bob"
        history = client.get("/scheduled_changes/rules/1/revisions", as_user=None)
        assert history.status == 200, history.text
    finally:
        service.close()


def test_v2_releases_in_the_summary_and_verify(store: Store, balrog: tuple) -> None:
    from tests.balrog.scenarios import build_v2_releases

    url, writer, _ = balrog
    build_v2_releases(writer)
    summary = json.loads(ok(store, "import-balrog", "--from", url, "--json"))
    assert summary["without_history"]["releases_json"] == 3
    assert summary["v2_scheduled_changes"]["2"]["name"] == "Firefox-122.0-build1"
    assert not [k for k in summary["skipped"] if "not kept by rulelog" in k]
    assert "no differences" in ok(store, "import-balrog", "--from", url, "--verify")
    t = writer.t("release_assets")
    with writer.engine.begin() as conn:
        conn.execute(update(t).where(t.c.name == "Firefox-122.0-build1").values(data_version=9))
    result = run(store, "import-balrog", "--from", url, "--verify")
    assert result.returncode == 1
    assert "releases_json Firefox-122.0-build1: data_versions: Balrog" in result.stdout
