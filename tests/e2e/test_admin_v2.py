"""``/api/v2`` over real HTTP: releases in parts, per-part data_versions, as Balrog."""

from __future__ import annotations

import copy
import json
import threading
from typing import Any

import pytest

from tests.e2e.conftest import AdminClient

NAME = "Firefox-nightly-1"
PLATFORM = "WINNT_x86_64-msvc"
LOCALES = [f"l{i:02d}" for i in range(16)]


def build(build_id: str) -> dict[str, Any]:
    return {"buildID": build_id, "complete": {"filesize": 1, "from": "*", "hashValue": "a"}}


def nightly(locales: list[str], build_id: str = "1") -> dict[str, Any]:
    return {
        "name": NAME,
        "schema_version": 1,
        "hashFunction": "sha512",
        "platforms": {PLATFORM: {"locales": {loc: build(build_id) for loc in locales}}},
    }


@pytest.fixture
def v2(admin: AdminClient) -> AdminClient:
    created = admin.put(f"/v2/releases/{NAME}", {"blob": nightly(LOCALES), "product": "Firefox"})
    assert created.status == 200, created.text
    return admin


def part(data_versions: dict[str, Any], locale: str) -> int:
    return data_versions["platforms"][PLATFORM]["locales"][locale]


def outdated(answer: Any) -> None:
    assert answer.status == 400, answer.text
    assert answer.json["detail"] == "OutdatedDataError", answer.json


# ------------------------------------------------------------------ reads


def test_create_answers_every_part_at_one_and_reads_agree(v2: AdminClient) -> None:
    got = v2.get(f"/v2/releases/{NAME}", as_user=None)
    assert got.status == 200
    assert got.json["blob"] == nightly(LOCALES)
    assert got.json["data_versions"]["."] == 1
    assert {part(got.json["data_versions"], loc) for loc in LOCALES} == {1}
    assert v2.get(f"/v2/releases/{NAME}/data_versions").json == {
        "data_versions": got.json["data_versions"]
    }
    one = v2.get(f"/v2/releases/{NAME}/.platforms.{PLATFORM}.locales.l03/data_version")
    assert one.status == 200 and one.json == {"data_version": 1}
    # v1 reads the same blob
    assert v2.get(f"/releases/{NAME}").json == nightly(LOCALES)


@pytest.mark.parametrize(
    "path",
    [
        "/v2/releases/Nope",
        "/v2/releases/Nope/data_versions",
        f"/v2/releases/{NAME}/.platforms.{PLATFORM}.locales.zz/data_version",
        "/v2/pins/Firefox/release/121.",
    ],
)
def test_missing_things_are_404_problems(v2: AdminClient, path: str) -> None:
    answer = v2.get(path)
    assert answer.status == 404
    assert answer.json["title"] == "Not Found"
    assert answer.headers["Content-Type"] == "application/json"


def test_list_and_names_only(v2: AdminClient) -> None:
    names = v2.get("/v2/releases", query={"names_only": "1"}, as_user=None)
    assert names.json == [NAME]
    rows = v2.get("/v2/releases").json["releases"]
    assert rows[0]["name"] == NAME and rows[0]["data_version"] == 1
    assert rows[0]["rule_info"] == {} and rows[0]["scheduled_changes"] == []


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ({"old_data_versions": {}}, "'blob' is a required property"),
        ({"blob": {}}, "'old_data_versions' is a required property"),
        ({"blob": [], "old_data_versions": {}}, "[] is not of type 'object'"),
    ],
)
def test_bodies_connexion_refuses_are_problem_json(
    v2: AdminClient, body: dict, detail: str
) -> None:
    before = v2.event_count()
    answer = v2.post(f"/v2/releases/{NAME}", body)
    assert answer.status == 400
    assert answer.headers["Content-Type"] == "application/problem+json"
    assert answer.json["detail"] == detail
    assert v2.event_count() == before


# ----------------------------------------------------------------- writes


def test_post_changes_only_the_parts_it_names(v2: AdminClient) -> None:
    blob = {"platforms": {PLATFORM: {"locales": {"l01": {"buildID": "2"}, "new": build("2")}}}}
    dvs = {"platforms": {PLATFORM: {"locales": {"l01": 1}}}}
    answer = v2.post(f"/v2/releases/{NAME}", {"blob": blob, "old_data_versions": dvs})
    assert answer.status == 200, answer.text
    assert answer.json == {"platforms": {PLATFORM: {"locales": {"l01": 2, "new": 1}}}}
    after = v2.get(f"/v2/releases/{NAME}").json
    assert after["blob"]["platforms"][PLATFORM]["locales"]["l01"]["buildID"] == "2"
    assert after["blob"]["platforms"][PLATFORM]["locales"]["l01"]["complete"]  # merged
    assert part(after["data_versions"], "l02") == 1 and after["data_versions"]["."] == 1
    # the same part again at its old version: Balrog's OutdatedDataError
    outdated(v2.post(f"/v2/releases/{NAME}", {"blob": blob, "old_data_versions": dvs}))
    missing = v2.post(
        f"/v2/releases/{NAME}",
        {
            "blob": {"platforms": {PLATFORM: {"locales": {"l02": {"x": 1}}}}},
            "old_data_versions": {},
        },
    )
    assert missing.status == 400
    assert missing.json["detail"] == "Unknown error"
    assert "Missing data_version" in missing.json["exception"]


def test_put_removing_a_part_needs_its_version(v2: AdminClient) -> None:
    current = v2.get(f"/v2/releases/{NAME}").json
    fewer = nightly(LOCALES[1:])
    refused = v2.put(f"/v2/releases/{NAME}", {"blob": fewer, "old_data_versions": {".": 1}})
    assert refused.status == 400 and refused.json["detail"] == "Unknown error"
    answer = v2.put(
        f"/v2/releases/{NAME}", {"blob": fewer, "old_data_versions": current["data_versions"]}
    )
    assert answer.status == 200, answer.text
    assert answer.json == {}  # nothing set: only a removal
    assert (
        "l00" not in v2.get(f"/v2/releases/{NAME}").json["blob"]["platforms"][PLATFORM]["locales"]
    )


def balrogscript_submit(client: AdminClient, locale: str, build_id: str) -> Any:
    """balrogscript's backend-2 flow: GET, merge the locale in, PUT with what was read."""
    current = client.get(f"/v2/releases/{NAME}", as_user="alice").json
    blob = copy.deepcopy(current["blob"])
    blob["platforms"][PLATFORM]["locales"][locale] = build(build_id)
    body = {"product": "Firefox", "blob": blob, "old_data_versions": current["data_versions"]}
    return client.put(f"/v2/releases/{NAME}", body, as_user="alice")


def concurrently(client: AdminClient, submit: Any) -> dict[str, list[Any]]:
    """Each of 16 writers submits its own locale, retrying on 400 as balrogscript does."""
    client.token_for("alice")
    answers: dict[str, list[Any]] = {loc: [] for loc in LOCALES}
    start = threading.Barrier(len(LOCALES))

    def writer(locale: str) -> None:
        start.wait(timeout=30)
        for _ in range(50):
            answer = submit(client, locale, f"2{int(locale[1:]):04d}")
            answers[locale].append(answer)
            if answer.status != 400:
                return

    threads = [threading.Thread(target=writer, args=(loc,)) for loc in LOCALES]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    return answers


def post_locale(client: AdminClient, locale: str, build_id: str) -> Any:
    """A v2 client that sends only its part (POST merges it in)."""
    blob = {"platforms": {PLATFORM: {"locales": {locale: {"buildID": build_id}}}}}
    versions = {"platforms": {PLATFORM: {"locales": {locale: 1}}}}
    return client.post(
        f"/v2/releases/{NAME}", {"blob": blob, "old_data_versions": versions}, as_user="alice"
    )


@pytest.mark.parametrize("submit", [balrogscript_submit, post_locale], ids=["put", "post"])
def test_sixteen_concurrent_writers_of_different_locales_all_land(
    v2: AdminClient, submit: Any
) -> None:
    answers = concurrently(v2, submit)
    assert {loc: runs[-1].status for loc, runs in answers.items()} == dict.fromkeys(LOCALES, 200)
    refusals = [a for runs in answers.values() for a in runs if a.status != 200]
    # A refusal is Balrog's OutdatedDataError: a balrogscript PUT carries every
    # locale as it read them, so it writes back (stale) the parts others changed
    # meanwhile. A writer that sends only its own part is never refused.
    assert {a.json["detail"] for a in refusals} <= {"OutdatedDataError"}
    if submit is post_locale:
        assert refusals == []
    after = v2.get(f"/v2/releases/{NAME}").json
    locales = after["blob"]["platforms"][PLATFORM]["locales"]
    assert {loc: locales[loc]["buildID"] for loc in LOCALES} == {
        loc: f"2{int(loc[1:]):04d}" for loc in LOCALES
    }
    assert {part(after["data_versions"], loc) for loc in LOCALES} == {2}
    assert v2.get(f"/releases/{NAME}").json == after["blob"]


def test_writers_of_the_same_part_conflict(v2: AdminClient) -> None:
    first = v2.get(f"/v2/releases/{NAME}").json
    assert balrogscript_submit(v2, "l05", "3").status == 200
    blob = copy.deepcopy(first["blob"])
    blob["platforms"][PLATFORM]["locales"]["l05"] = build("4")
    body = {"product": "Firefox", "blob": blob, "old_data_versions": first["data_versions"]}
    outdated(v2.put(f"/v2/releases/{NAME}", body))
    # a different part with the same stale read goes through
    blob = copy.deepcopy(first["blob"])
    blob["platforms"][PLATFORM]["locales"]["l06"] = build("4")
    blob["platforms"][PLATFORM]["locales"]["l05"] = build("3")
    body = {"product": "Firefox", "blob": blob, "old_data_versions": first["data_versions"]}
    assert v2.put(f"/v2/releases/{NAME}", body).status == 200


def test_v1_and_v2_writes_interleave(v2: AdminClient) -> None:
    v1 = v2.get(f"/releases/{NAME}")
    v1_version = int(v1.headers["X-Data-Version"])
    assert balrogscript_submit(v2, "l01", "5").status == 200
    # the v2 write is a change v1 clients see: their data_version moved on
    seen = v2.get(f"/releases/{NAME}")
    assert int(seen.headers["X-Data-Version"]) == v1_version + 1
    assert seen.json["platforms"][PLATFORM]["locales"]["l01"]["buildID"] == "5"
    blob = seen.json
    blob["platforms"][PLATFORM]["locales"]["l02"] = build("6")
    put = v2.put(
        f"/releases/{NAME}",
        {
            "name": NAME,
            "product": "Firefox",
            "data_version": v1_version + 1,
            "blob": json.dumps(blob),
        },
    )
    assert put.status in (200, 201), put.text
    after = v2.get(f"/v2/releases/{NAME}").json
    assert after["blob"]["platforms"][PLATFORM]["locales"]["l02"]["buildID"] == "6"
    assert after["blob"]["platforms"][PLATFORM]["locales"]["l01"]["buildID"] == "5"
    # each part moved on by the changes made to it, whoever made them
    assert part(after["data_versions"], "l01") == 2
    assert part(after["data_versions"], "l02") == 2
    assert part(after["data_versions"], "l03") == 1


def test_read_only_blocks_writes_and_delete(v2: AdminClient) -> None:
    answer = v2.put(f"/v2/releases/{NAME}/read_only", {"read_only": True, "old_data_version": 1})
    assert answer.status == 200 and answer.json == {".": 2}
    refused = balrogscript_submit(v2, "l01", "7")
    assert refused.status == 400 and refused.json["detail"] == "Read only"
    deleting = v2.delete(f"/v2/releases/{NAME}")
    assert deleting.status == 400 and deleting.json["detail"] == "Read only"
    outdated(v2.put(f"/v2/releases/{NAME}/read_only", {"read_only": False, "old_data_version": 1}))
    assert v2.put(
        f"/v2/releases/{NAME}/read_only", {"read_only": False, "old_data_version": 2}
    ).json == {".": 3}
    assert v2.delete(f"/v2/releases/{NAME}").status == 200
    assert v2.get(f"/v2/releases/{NAME}").status == 404


def test_pinnable_and_pins(v2: AdminClient) -> None:
    body = {"product": "Firefox", "channel": "release", "version": "121."}
    answer = v2.put(f"/v2/releases/{NAME}/pinnable", body)
    assert answer.status == 200 and answer.json == {".": 1}
    pin = v2.get("/v2/pins/Firefox/release/121.", as_user=None)
    assert pin.json == {
        "product": "Firefox",
        "channel": "release",
        "version": "121.",
        "mapping": NAME,
        "data_version": 1,
    }
    missing = v2.put("/v2/releases/Nope/pinnable", body)
    assert missing.status == 404


def test_writes_need_permission(v2: AdminClient) -> None:
    v2.token_for("releng")
    before = v2.event_count()
    answer = v2.post(
        f"/v2/releases/{NAME}",
        {
            "blob": {"platforms": {PLATFORM: {"locales": {"zz": build("1")}}}},
            "old_data_versions": {},
        },
        as_user="releng",
    )
    assert answer.status == 403 and answer.json["detail"] == "Permission Denied"
    assert v2.event_count() == before


# -------------------------------------------------- scheduled, with signoffs


def test_scheduled_v2_change_with_signoffs(admin: AdminClient, fixture_snapshot: dict) -> None:
    admin.service.import_snapshot(fixture_snapshot, "importer")
    name = "Firefox-121.0-build1"  # mapped by Firefox release rules
    admin.service.grant_permission("rm", "release", {"products": ["Firefox"]}, "alice")
    admin.service.grant_role("rm", "relman", "alice")
    policy = {"product": "Firefox", "channel": "release", "role": "relman", "signoffs_required": 1}
    admin.service.add_required_signoff("product", policy, "alice")
    current = admin.get(f"/v2/releases/{name}").json
    blob = copy.deepcopy(current["blob"])
    platform = next(p for p in sorted(blob["platforms"]) if blob["platforms"][p].get("locales"))
    locales = blob["platforms"][platform].get("locales") or {}
    assert locales, "the fixture release has locales"
    locale = sorted(locales)[0]
    blob["platforms"][platform]["locales"][locale]["buildID"] = "99999999999999"
    body = {"blob": blob, "old_data_versions": current["data_versions"], "product": "Firefox"}
    direct = admin.put(f"/v2/releases/{name}", body)
    assert direct.status == 400 and direct.json["detail"] == "Signoff Required"
    when = 4102444800000  # 2100-01-01
    scheduled = admin.put(f"/v2/releases/{name}", {**body, "when": when})
    assert scheduled.status == 200, scheduled.text
    detail = scheduled.json["platforms"][platform]["locales"][locale]
    assert detail["change_type"] == "update" and detail["when"] == when
    listed = admin.get("/v2/releases").json["releases"]
    row = next(r for r in listed if r["name"] == name)
    assert [sc["sc_id"] for sc in row["scheduled_changes"]] == [detail["sc_id"]]
    assert admin.get(f"/v2/releases/{name}").json["sc_blob"] == blob
    early = admin.post(f"/v2/releases/{name}/enact")
    assert early.status == 400 and early.json["detail"] == "Signoff Required"
    admin.token_for("rm")
    assert admin.put(f"/v2/releases/{name}/signoff", {"role": "relman"}, as_user="rm").status == 200

    def signoffs() -> dict[str, str]:
        rows = admin.get("/v2/releases").json["releases"]
        return next(r for r in rows if r["name"] == name)["scheduled_changes"][0]["signoffs"]

    assert signoffs() == {"rm": "relman"}
    assert admin.delete(f"/v2/releases/{name}/signoff", as_user="rm").status == 200
    assert signoffs() == {}
    assert admin.put(f"/v2/releases/{name}/signoff", {"role": "relman"}, as_user="rm").status == 200
    enacted = admin.post(f"/v2/releases/{name}/enact")
    assert enacted.status == 200, enacted.text
    after = admin.get(f"/v2/releases/{name}").json
    assert after["blob"] == blob and after["sc_blob"] == {}
    assert after["data_versions"]["platforms"][platform]["locales"][locale] == 2
    gone = admin.post(f"/v2/releases/{name}/enact")
    assert gone.status == 404 and gone.json["detail"] == "Release has no scheduled changes"


def test_a_v2_write_checks_the_login_before_the_body(v2: AdminClient) -> None:
    answer = v2.post(f"/v2/releases/{NAME}", {"nope": 1}, as_user=None)
    assert answer.status == 401, answer.text
    assert answer.json["detail"] == "PermissionDeniedError"


def test_unlocking_a_guarded_release_is_scheduled(
    admin: AdminClient, fixture_snapshot: dict
) -> None:
    admin.service.import_snapshot(fixture_snapshot, "importer")
    name = "Firefox-121.0-build1"
    admin.service.grant_permission("rm", "release", {"products": ["Firefox"]}, "alice")
    admin.service.grant_role("rm", "relman", "alice")
    policy = {"product": "Firefox", "channel": "release", "role": "relman", "signoffs_required": 1}
    admin.service.add_required_signoff("product", policy, "alice")
    locked = admin.put(f"/v2/releases/{name}/read_only", {"read_only": True, "old_data_version": 1})
    assert locked.json == {".": 2}
    answer = admin.put(
        f"/v2/releases/{name}/read_only", {"read_only": False, "old_data_version": 2}
    )
    assert answer.status == 200, answer.text
    assert answer.json["."]["change_type"] == "update"
    assert admin.service.get_release(name).read_only is True  # not yet
    admin.token_for("rm")
    assert admin.put(f"/v2/releases/{name}/signoff", {"role": "relman"}, as_user="rm").status == 200
    assert admin.post(f"/v2/releases/{name}/enact").status == 200
    assert admin.service.get_release(name).read_only is False
