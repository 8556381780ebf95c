"""``import-balrog`` of releases written through Balrog's admin API v2 (split tables).

The Balrog side is ``build_full_history`` then ``build_v2_releases`` on SQLite
(and on MariaDB, marked): v2 releases come out of the import as Balrog
assembles them, with every part's data_version, are served as Balrog serves
them (``releases_json`` before ``releases``), their pending changes become one
scheduled release change per release, and ``--verify`` compares all of it.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from starlette.testclient import TestClient

from rulelog.api.admin.app import AdminSettings, create_admin_app
from rulelog.domain.balrog.rows import UNSUPPORTED_TABLES
from rulelog.projections.log import read_log
from rulelog.projections.state import Catalog
from rulelog.services.application import RulelogApp
from rulelog.services.balrog_v2 import SHADOWED
from tests.balrog.points import balrog_v2_release
from tests.balrog.scenarios import (
    DE,
    EN,
    IT,
    build_full_history,
    build_v2_releases,
    locale,
    v2_base,
)
from tests.balrog.writer import BalrogWriter, create_balrog_db
from tests.conftest import Store
from tests.integration.test_import_balrog import (  # noqa: F401 (fixtures)
    _close_stores,
    differences,
    imported_public_client,
    mariadb_balrog,
    run_import,
)

V2_NAMES = ("Firefox-119.0-build1", "Firefox-122.0-build1", "Thunderbird-1.0")
N122 = "Firefox-122.0-build1"


def update_url(channel: str, locale_name: str) -> str:
    return (
        f"/update/6/Firefox/100.0/20231016134553/WINNT_x86_64-msvc/{locale_name}/{channel}/"
        "Windows_NT%2010.0/ISET:SSE4_2,MEM:16384/default/default/update.xml?force=1"
    )


@pytest.fixture
def balrog_v2(tmp_path: Any) -> Iterator[tuple[str, BalrogWriter, dict[str, int]]]:
    url = f"sqlite:///{tmp_path / 'balrog.db'}"
    writer = BalrogWriter(create_balrog_db(url, release_history=True))
    moments = build_full_history(writer) | build_v2_releases(writer)
    yield url, writer, moments
    writer.engine.dispose()


def admin(app: RulelogApp) -> TestClient:
    return TestClient(create_admin_app(app, AdminSettings()))


def assert_v2_releases_as_balrog(app: RulelogApp, writer: BalrogWriter) -> None:
    with admin(app) as client:
        for name in V2_NAMES:
            theirs = balrog_v2_release(writer.engine, name)
            assert theirs is not None
            got = client.get(f"/api/v2/releases/{name}")
            assert got.status_code == 200, got.text
            assert got.json()["blob"] == theirs["blob"], name
            assert got.json()["data_versions"] == theirs["data_versions"], name
            versions = client.get(f"/api/v2/releases/{name}/data_versions").json()
            assert versions["data_versions"] == theirs["data_versions"]


def test_v2_releases_import_as_balrog_assembles_them(store: Store, balrog_v2: tuple) -> None:
    url, writer, _ = balrog_v2
    app = store.open()
    summary = run_import(app, url)
    assert differences(app, url) == []
    assert summary.without_history["releases_json"] == 3
    assert_v2_releases_as_balrog(app, writer)
    theirs = balrog_v2_release(writer.engine, N122)
    assert theirs is not None and theirs["data_versions"] == {
        ".": 3,
        "platforms": {"WINNT_x86_64-msvc": {"locales": {"en-US": 1, "de": 2, "fr": 4}}},
    }
    # The name in both tables is Balrog's releases_json one (as Balrog serves it) ...
    with admin(app) as client:
        v1 = client.get("/api/releases/Firefox-119.0-build1").json()
    assert v1["appv"] == "119.0.9"
    # ... and its old rows (here with their history) are counted, not imported.
    assert summary.skipped[SHADOWED] == 5  # insert, delete, insert again
    # Only what is really not imported is reported as such.
    assert UNSUPPORTED_TABLES == (
        "releases_json_scheduled_changes_history",
        "release_assets_scheduled_changes_history",
    )
    assert summary.skipped["release_assets_scheduled_changes_history: history of v2 "
                           "scheduled changes, not imported"] == 7  # 3 changes, 1 enacted
    assert summary.skipped["release_assets_scheduled_changes: ended (their effect is in "
                           "the releases)"] == 1
    assert not [k for k in summary.skipped if k.startswith(("releases_json:", "release_assets:"))]
    lines = "\n".join(summary.lines())
    assert "releases scheduled change 2 (Firefox-122.0-build1)" in lines


def test_pending_v2_changes_become_one_scheduled_release_change(
    store: Store, balrog_v2: tuple
) -> None:
    url, writer, moments = balrog_v2
    app = store.open()
    summary = run_import(app, url)
    (sc_id,) = summary.v2_scheduled_changes
    assert summary.v2_scheduled_changes[sc_id]["from"] == [
        "releases_json_scheduled_changes sc_id 1",
        "release_assets_scheduled_changes sc_id 2",
        "release_assets_scheduled_changes sc_id 3",
    ]
    assert sc_id == 2  # after the releases_scheduled_changes Balrog has (sc_id 1)
    theirs = balrog_v2_release(writer.engine, N122)
    assert theirs is not None
    expected = copy.deepcopy(theirs["blob"])
    expected.update(v2_base(N122, "122.0.3"))
    expected["platforms"]["WINNT_x86_64-msvc"]["locales"] = {
        **theirs["blob"]["platforms"]["WINNT_x86_64-msvc"]["locales"],
        "de": locale(N122, 202),
        "it": locale(N122, 400),
    }
    state = Catalog(keep_ended=True).fold(read_log(app))
    sc = state.scheduled[("releases", sc_id)]
    when = datetime.fromtimestamp(moments["v2_scheduled_when"] / 1000, tz=UTC)
    assert (sc["status"], sc["change_type"], sc["target"]) == ("pending", "update", N122)
    assert sc["condition"] == {"when": when.isoformat()}
    assert sc["signoffs"] == {"bob": "relman"}
    assert sc["row"]["data"] == expected
    with admin(app) as client:
        got = client.get(f"/api/v2/releases/{N122}").json()
    assert got["sc_blob"] == expected
    touched = got["sc_data_versions"]["platforms"]["WINNT_x86_64-msvc"]["locales"]
    assert set(touched) == {"de", "it"} and "." in got["sc_data_versions"]
    assert DE.endswith(".de") and IT.endswith(".it")


def test_the_public_server_serves_v2_releases_as_balrog(store: Store, balrog_v2: tuple) -> None:
    url, _writer, _ = balrog_v2
    with imported_public_client(store, url) as client:
        # A rule mapping to a v2 release: the de asset's own data.
        answer = client.get(update_url("aurora", "de"))
        assert answer.headers["Rule-ID"] == "5"
        assert 'version="122.0.2"' in answer.text and "size=201" in answer.text
        # A name in both tables is served from releases_json, as Balrog does.
        esr = client.get(update_url("esr", "en-US"))
        assert esr.headers["Rule-ID"] == "3"
        assert 'version="119.0.9"' in esr.text and "size=119" in esr.text


def test_verify_compares_v2_releases_and_their_pending_changes(
    store: Store, balrog_v2: tuple
) -> None:
    url, writer, _ = balrog_v2
    app = store.open()
    run_import(app, url)
    writer.update("release_assets", {"name": N122, "path": DE}, {"data": locale(N122, 999)},
                  "bob")
    writer.cancel("release_assets", 3, "bob")  # the pending it locale
    found = differences(app, url)
    assert any(d.startswith(f"releases_json {N122}: blob_sha:") for d in found), found
    assert any(d.startswith(f"releases_json {N122}: data_versions:") for d in found), found
    assert any(d.startswith(f"releases_json_scheduled_changes {N122}: row:") for d in found)


def test_catch_up_brings_v2_releases_along(store: Store, balrog_v2: tuple) -> None:
    url, writer, _ = balrog_v2
    app = store.open()
    run_import(app, url)
    # (Firefox-122.0-build1 has a pending change, made of its blob at the import: a
    # change of it here would be a difference --verify reports, see above.)
    n119 = "Firefox-119.0-build1"
    writer.insert("release_assets", {"name": n119, "path": DE, "data": locale(n119, 5)}, "bob")
    writer.update("release_assets", {"name": n119, "path": EN}, {"data": locale(n119, 6)},
                  "bob")
    writer.update("releases_json", {"name": n119}, {"read_only": True}, "bob")
    writer.update("releases_json", {"name": n119}, {"data": v2_base(n119, "119.0.10")}, "bob")
    new = "Firefox-123.0-build1"
    writer.insert("releases_json", {"name": new, "product": "Firefox", "read_only": False,
                                    "data": v2_base(new, "123.0")}, "bob")
    writer.insert("release_assets", {"name": new, "path": DE, "data": locale(new, 1)}, "bob")
    writer.update("release_assets", {"name": new, "path": DE}, {"data": locale(new, 2)}, "bob")
    writer.delete("releases_json", {"name": "Thunderbird-1.0"}, "bob")
    summary = run_import(app, url, since_last=True)
    assert summary.rows == {"releases_json": 3}  # changed, new, gone
    assert differences(app, url) == []
    with admin(app) as client:
        for name in (n119, new):
            theirs = balrog_v2_release(writer.engine, name)
            assert theirs is not None
            got = client.get(f"/api/v2/releases/{name}").json()
            assert (got["blob"], got["data_versions"]) == (theirs["blob"],
                                                          theirs["data_versions"])
        assert client.get("/api/v2/releases/Thunderbird-1.0").status_code == 404
    assert run_import(app, url, since_last=True).events_total == 0
    # A v2 change scheduled after the import is said, not imported, by a catch-up.
    writer.schedule("release_assets", "update", {"name": n119, "path": DE,
                                                 "data": locale(n119, 7)}, "bob",
                    when=writer.now + 60_000, base_data_version=1)
    later = run_import(app, url, since_last=True)
    assert later.events_total == 0
    assert any("not imported by a catch-up" in note for note in later.v2_notes)
    assert differences(app, url) == [
        f"releases_json_scheduled_changes {n119}: in Balrog, not in rulelog"
    ]


@pytest.mark.mariadb
def test_import_balrog_v2_mariadb(store: Store, mariadb_balrog: tuple) -> None:  # noqa: F811
    url, writer = mariadb_balrog
    build_full_history(writer)
    build_v2_releases(writer)
    app = store.open()
    summary = run_import(app, url)
    assert summary.without_history["releases_json"] == 3
    assert differences(app, url) == []
    assert_v2_releases_as_balrog(app, writer)


def test_a_bad_v2_row_names_table_row_and_field_and_leaves_the_store_empty(
    store: Store, balrog_v2: tuple
) -> None:
    from sqlalchemy import text

    from rulelog.domain.errors import Invalid
    from rulelog.projections.log import last_position

    url, writer, _ = balrog_v2
    with writer.engine.begin() as conn:
        conn.execute(text("UPDATE release_assets SET data = '{not json' WHERE path = :p"),
                     {"p": DE})
    app = store.open()
    with pytest.raises(Invalid) as error:
        run_import(app, url)
    assert error.value.message.startswith(
        f"release_assets (current row name='{N122}', path='{DE}'): data: not valid JSON"
    )
    assert last_position(app) == 0
