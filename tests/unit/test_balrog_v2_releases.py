"""Balrog's split (v2) releases -> rulelog releases, without a database
(``domain.balrog.v2_releases``)."""

from __future__ import annotations

from typing import Any

import pytest

from rulelog.domain import ids
from rulelog.domain.balrog.replay import ImportRowError
from rulelog.domain.balrog.rows import HistoryRow
from rulelog.domain.balrog.v2_releases import (
    MERGED_SC,
    V2Replay,
    assemble,
    bump_steps,
    merge_pending,
)
from rulelog.domain.catalog.releases import Release
from rulelog.domain.workflow.scheduling import ScheduledChange
from tests.balrog.scenarios import DE, EN, FR, locale, v2_base

T0 = 1_700_000_000_000
NAME = "Firefox-122.0-build1"


def base_row(dv: int = 1, **extra: Any) -> dict[str, Any]:
    return {"name": NAME, "product": "Firefox", "read_only": False,
            "data": v2_base(NAME, "122.0"), "data_version": dv, **extra}


def asset(path: str, dv: int, size: int = 1) -> dict[str, Any]:
    return {"name": NAME, "path": path, "data": locale(NAME, size), "data_version": dv}


def test_assemble_sets_each_asset_at_its_path_and_keeps_every_data_version() -> None:
    values = assemble(base_row(3), [asset(EN, 1, 10), asset(DE, 2, 20)])
    locales = values["data"]["platforms"]["WINNT_x86_64-msvc"]["locales"]
    assert locales == {"en-US": locale(NAME, 10), "de": locale(NAME, 20)}
    assert values["data"]["platforms"]["WINNT_x86_64-msvc"]["buildID"] == "20231116134553"
    assert values["part_versions"] == {".": 3, EN: 1, DE: 2}


def test_bump_steps_move_every_part_that_is_short() -> None:
    assert bump_steps({".": 1, EN: 1}) == []
    assert bump_steps({".": 3, EN: 1, DE: 2, FR: 4}) == [
        (True, [DE, FR]),
        (True, [FR]),
        (False, [FR]),
    ]


def test_a_v2_release_is_created_with_balrog_s_part_data_versions() -> None:
    replay = V2Replay()
    values = assemble(base_row(3), [asset(EN, 1), asset(DE, 2), asset(FR, 4)])
    replay.apply(HistoryRow("releases_json", None, "balrog", T0, values))
    release = replay.get(ids.release_id(NAME), Release)
    assert release is not None
    assert release.part_versions == {".": 3, EN: 1, DE: 2, FR: 4}
    assert release.data_version == 4  # the highest of its parts
    assert release.blob == values["data"]
    events = replay.take_events()
    assert [type(e).TOPIC for e in events if e.originator_id == release.id] == [
        Release.Created.TOPIC, *[Release.PartsChanged.TOPIC] * 3]
    assert len(replay.report.gaps) == 1 and "history missing" in replay.report.gaps[0]


def test_a_blob_that_does_not_name_its_release_names_the_row_and_field() -> None:
    replay = V2Replay()
    values = assemble(base_row(1, data=v2_base("Other", "1.0")), [])
    with pytest.raises(ImportRowError) as error:
        replay.apply(HistoryRow("releases_json", None, "balrog", T0, values))
    assert error.value.message.startswith(f"releases_json (current row name='{NAME}'): data:")


def sc(sc_id: int, change_type: str, when: int = T0 + 5, **base: Any) -> dict[str, Any]:
    return {"sc_id": sc_id, "change_type": change_type, "when": when, "scheduled_by": "bob",
            "complete": False, **{f"base_{k}": v for k, v in base.items()}}


def test_pending_parts_merge_into_one_change_with_the_signoffs_all_parts_have() -> None:
    current = assemble(base_row(1), [asset(EN, 1), asset(DE, 1)])
    base_sc = sc(1, "update", name=NAME, product="Firefox", read_only=False,
                 data=v2_base(NAME, "122.0.1"))
    de = sc(1, "delete", name=NAME, path=DE)
    fr = sc(2, "insert", when=T0 + 9, name=NAME, path=FR, data=locale(NAME, 3))
    signoffs = {
        ("releases_json_scheduled_changes", 1): {"bob": "relman", "dave": "qa"},
        ("release_assets_scheduled_changes", 1): {"bob": "relman"},
        ("release_assets_scheduled_changes", 2): {"bob": "relman"},
    }
    values, notes = merge_pending(NAME, current, base_sc, [de, fr], signoffs)
    assert values is not None
    assert values["change_type"] == "update" and values["when"] == T0 + 9
    assert values["signoffs"] == {"bob": "relman"}
    locales = values["base_data"]["platforms"]["WINNT_x86_64-msvc"]["locales"]
    assert set(locales) == {"en-US", "fr"} and values["base_data"]["appv"] == "122.0.1"
    assert len(notes) == 2  # different times, different signoffs
    replay = V2Replay()
    replay.apply(HistoryRow("releases_json", None, "balrog", T0, current))
    replay.apply(HistoryRow(MERGED_SC, None, "bob", T0 + 1, values))
    (sc_id,) = replay.v2_scheduled
    change = replay.get(ids.scheduled_change_id("releases", sc_id), ScheduledChange)
    assert change is not None and change.pending and change.signoffs == {"bob": "relman"}
    assert change.row is not None and change.row["data"] == values["base_data"]


def test_asset_changes_of_a_release_that_is_nowhere_are_not_merged() -> None:
    values, notes = merge_pending(NAME, None, None, [sc(1, "insert", name=NAME, path=DE)], {})
    assert values is None and "no release to change" in notes[0]


def test_a_v2_insert_of_a_name_the_old_table_has_changes_that_release() -> None:
    from tests.balrog.scenarios import blob

    replay = V2Replay()
    old = {"name": NAME, "product": "Firefox", "read_only": False, "data": blob(NAME),
           "data_version": 2}
    replay.apply(HistoryRow("releases", None, "balrog", T0, old))
    insert = sc(1, "insert", name=NAME, product="Firefox", read_only=False,
                data=v2_base(NAME, "122.0.1"))
    values, _notes = merge_pending(NAME, None, insert, [], {})
    assert values is not None and values["change_type"] == "insert"
    replay.apply(HistoryRow(MERGED_SC, None, "bob", T0 + 1, values))
    change = replay.get(ids.scheduled_change_id("releases", 1), ScheduledChange)
    assert change is not None
    assert (change.change_type, change.base_data_version) == ("update", 2)
