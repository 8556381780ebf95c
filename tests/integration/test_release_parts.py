"""v2 writes on both stores: per-part checks, concurrent writers, history and time travel."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from rulelog.api.config import open_timeline
from rulelog.domain.errors import Conflict
from rulelog.projections.at import release_at
from rulelog.projections.audit import changes
from rulelog.projections.log import last_position
from rulelog.projections.release_revisions import release_revisions
from rulelog.services.application import RulelogApp
from rulelog.services.release_v2 import ReleasesV2

NAME = "Firefox-nightly-parts"
PLATFORM = "Linux_x86_64-gcc3"


def build(n: int) -> dict[str, Any]:
    return {
        "buildID": f"{20260000 + n}",
        "complete": {"filesize": n, "from": "*", "hashValue": "a"},
    }


def part(locale: str, n: int) -> dict[str, Any]:
    return {"platforms": {PLATFORM: {"locales": {locale: build(n)}}}}


@pytest.fixture
def v2(app: RulelogApp) -> ReleasesV2:
    app.add_user("alice", admin=True, recorded_by="alice")
    blob = {"name": NAME, "schema_version": 1, "hashFunction": "sha512"}
    ReleasesV2(app).ensure(NAME, blob, "Firefox", None, None, "alice")
    return ReleasesV2(app)


def test_a_v2_write_is_one_event_naming_its_parts(app: RulelogApp, v2: ReleasesV2) -> None:
    before = last_position(app)
    answer = v2.update(NAME, part("de", 1), {}, None, "alice")
    assert answer == {"platforms": {PLATFORM: {"locales": {"de": 1}}}}
    v2.update(NAME, part("fr", 2), {}, None, "alice")
    v2.update(NAME, part("de", 3), {"platforms": {PLATFORM: {"locales": {"de": 1}}}}, None, "alice")
    timeline = open_timeline(app)
    rows = changes(app, timeline, since=f"position:{before}")
    assert [r["parts"] for r in rows] == [
        [f".platforms.{PLATFORM}.locales.de"],
        [f".platforms.{PLATFORM}.locales.fr"],
        [f".platforms.{PLATFORM}.locales.de"],
    ]
    assert {r["actor"] for r in rows} == {"alice"}
    # time travel: the release as it stood after the first part was written
    then = release_at(app, timeline, f"position:{before + 1}", NAME)
    assert then["data"]["platforms"][PLATFORM]["locales"] == {"de": build(1)}
    now = release_at(app, timeline, None, NAME)
    assert now["data"]["platforms"][PLATFORM]["locales"] == {"de": build(3), "fr": build(2)}
    # v1 sees every v2 write as one more data_version, and lists each as a revision
    assert app.get_release(NAME).data_version == 4
    assert [r["data_version"] for r in release_revisions(app, NAME)] == [4, 3, 2, 1]


def test_concurrent_writers_of_different_parts_all_land(app: RulelogApp, v2: ReleasesV2) -> None:
    locales = [f"l{i:02d}" for i in range(16)]
    errors: list[Exception] = []
    start = threading.Barrier(len(locales))

    def writer(i: int, locale: str) -> None:
        start.wait(timeout=30)
        try:
            # each its own service: as separate server processes, racing in the store
            ReleasesV2(app).update(NAME, part(locale, i), {}, None, "alice")
        except Exception as error:
            errors.append(error)

    threads = [threading.Thread(target=writer, args=(i, loc)) for i, loc in enumerate(locales)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert errors == []
    release = v2.find(NAME)
    assert release is not None
    assert sorted(release.blob["platforms"][PLATFORM]["locales"]) == locales
    assert all(
        release.part_versions[f".platforms.{PLATFORM}.locales.{loc}"] == 1 for loc in locales
    )


def test_a_stale_part_is_refused_and_nothing_stored(app: RulelogApp, v2: ReleasesV2) -> None:
    v2.update(NAME, part("de", 1), {}, None, "alice")
    v2.update(NAME, part("de", 2), {"platforms": {PLATFORM: {"locales": {"de": 1}}}}, None, "alice")
    before = last_position(app)
    with pytest.raises(Conflict) as refused:
        v2.update(
            NAME, part("de", 3), {"platforms": {PLATFORM: {"locales": {"de": 1}}}}, None, "alice"
        )
    assert refused.value.context["reason"] == "outdated"
    assert last_position(app) == before
