"""``/api/releases`` over real HTTP: Balrog's shapes, status codes and refusals."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.e2e.conftest import AdminClient

MAPPED = "Firefox-121.0-build1"  # rules 1, 7, 14 (Firefox, release) and 23 map it
UNMAPPED = "Spare-1"  # made by the ``fx`` fixture; no rule maps it
LOCALE = {"complete": {"filesize": 1, "from": "*", "hashValue": "abc"}}


def blob(name: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "schema_version": 1, "hashFunction": "sha512", **extra}


@pytest.fixture
def fx(admin: AdminClient, fixture_snapshot: dict) -> AdminClient:
    """The fixture data plus an unmapped release; every test user's token issued
    up front (issuing one is an event, which would blur "store unchanged")."""
    admin.service.import_snapshot(fixture_snapshot, "importer")
    make(admin, UNMAPPED)
    for user in ("alice", "bob", "releng"):
        admin.token_for(user)
    return admin


def make(admin: AdminClient, name: str, product: str = "Firefox", **extra: Any) -> None:
    admin.service.create_release(name, product, blob(name, **extra), "alice")


def guard_firefox_release(admin: AdminClient) -> None:
    """A relman signoff policy on Firefox's release channel."""
    admin.service.grant_permission("rm", "rule", {"products": ["Firefox"]}, "alice")
    admin.service.grant_role("rm", "relman", "alice")
    policy = {"product": "Firefox", "channel": "release", "role": "relman", "signoffs_required": 1}
    admin.service.add_required_signoff("product", policy, "alice")


def refused(answer: Any, status: int, detail: str) -> dict[str, Any]:
    assert answer.status == status, answer.text
    assert answer.json["detail"] == detail, answer.json
    return answer.json


# ----------------------------------------------------------------- reading


def test_list_filters_and_required_signoffs(fx: AdminClient, fixture_snapshot: dict) -> None:
    guard_firefox_release(fx)
    listed = fx.get("/releases", as_user=None)
    assert listed.status == 200
    rows = listed.json["releases"]
    # As Balrog's table scan returns them: in the order they were created (the snapshot's);
    # names alone come by name (its primary-key index).
    assert len(rows) == 12
    created = [r["name"] for r in fixture_snapshot["releases"]] + [UNMAPPED]
    assert [r["name"] for r in rows] == created
    assert [r["name"] for r in rows] != sorted(r["name"] for r in rows)
    names_only = fx.get("/releases", query={"names_only": "1"}).json["names"]
    assert names_only == sorted(r["name"] for r in rows)
    mapped = next(r for r in rows if r["name"] == MAPPED)
    assert mapped["rule_ids"] == [1, 7, 14, 23] and mapped["data_version"] == 1
    assert mapped["rule_info"]["1"] == {"product": "Firefox", "channel": "release"}
    assert mapped["required_signoffs"] == {"relman": 1} and mapped["read_only"] is False
    assert "data" not in mapped
    unmapped = next(r for r in rows if r["name"] == UNMAPPED)
    assert unmapped["required_signoffs"] == {}
    gmp = fx.get("/releases", query={"product": "GMP"}).json["releases"]
    assert [r["name"] for r in gmp] == ["GMP-Superblob-2023"]
    prefixed = fx.get("/releases", query={"name_prefix": "Firefox-12"}).json["releases"]
    assert [r["name"] for r in prefixed] == [
        "Firefox-120.0-build1",
        "Firefox-121.0-build1",
        "Firefox-122.0b3-build1",
    ]
    names = fx.get("/releases", query={"names_only": "1", "product": "Widevine"}).json
    assert names == {"names": ["Widevine-4.10.2710.0"]}


def test_get_blob_with_data_version_header(fx: AdminClient, fixture_snapshot: dict) -> None:
    expected = next(r["data"] for r in fixture_snapshot["releases"] if r["name"] == MAPPED)
    got = fx.get(f"/releases/{MAPPED}", as_user=None)
    assert got.status == 200 and got.json == expected
    assert got.headers["X-Data-Version"] == "1"
    pretty = fx.get(f"/releases/{MAPPED}", query={"pretty": "1"}, as_user=None)
    assert pretty.json == expected and "\n    " in pretty.text
    body = refused(fx.get("/releases/nope", as_user=None), 404, "Release name: nope not found")
    assert "exception" not in body


def test_columns(fx: AdminClient) -> None:
    products = fx.get("/releases/columns/product", as_user=None).json
    assert products["count"] == 6 and "Thunderbird" in products["product"]
    assert fx.get("/releases/columns/read_only").json == {"count": 1, "read_only": [False]}
    refused(fx.get("/releases/columns/data"), 404, "Requested column does not exist")


def test_get_and_put_one_locale(fx: AdminClient) -> None:
    name = "Firefox-121.0-build1"
    got = fx.get(f"/releases/{name}/builds/Linux_x86_64-gcc3/en-US", as_user=None)
    assert got.status == 200 and "completes" in got.json
    assert got.headers["X-Data-Version"] == "1"
    missing = fx.get(f"/releases/{name}/builds/Linux_x86_64-gcc3/xx")
    assert missing.status == 404
    assert json.loads(missing.json["detail"]) == [
        f"Couldn't find locale identified by: {name}, Linux_x86_64-gcc3, xx"
    ]


# ---------------------------------------------------------------- creating


def test_post_creates_a_release(fx: AdminClient) -> None:
    made = fx.post(
        "/releases", {"name": "New-1", "product": "Firefox", "blob": json.dumps(blob("New-1"))}
    )
    assert (made.status, made.json) == (201, {"new_data_version": 1})
    assert fx.get("/releases/New-1").json == blob("New-1")
    # Older clients send the blob as JSON text.
    text = json.dumps(blob("New-2"))
    assert fx.post("/releases", {"name": "New-2", "product": "Firefox", "blob": text}).status == 201
    before = fx.event_count()
    again = fx.post(
        "/releases", {"name": "New-1", "product": "Firefox", "blob": json.dumps(blob("New-1"))}
    )
    body = refused(again, 400, "Release: New-1 already exists")
    assert body["exception"] == "Database already contains the release"
    bad = fx.post(
        "/releases", {"name": "B", "product": "Firefox", "blob": json.dumps({"name": "B"})}
    )
    assert refused(bad, 400, "Couldn't create release")["exception"] == [
        "schema_version is not set"
    ]
    extra = {**blob("B"), "x": 1}
    invalid = fx.post("/releases", {"name": "B", "product": "Firefox", "blob": json.dumps(extra)})
    # Balrog's list: each JSON-schema error, worded as its validator words it.
    assert refused(invalid, 400, "Couldn't create release")["exception"] == [
        "Additional properties are not allowed ('x' was unexpected)"
    ]
    other = fx.post("/releases", {"name": "B", "product": "Firefox", "blob": json.dumps(blob("C"))})
    assert refused(other, 400, "Couldn't create release")["exception"] == [
        "name in database (B) does not match name in blob (C)"
    ]
    lacking = fx.post("/releases", {"name": "B", "product": "Firefox"})
    refused(lacking, 400, "'blob' is a required property")
    garbled = fx.post("/releases", {"name": "B", "product": "Firefox", "blob": "{nope"})
    assert garbled.status == 400 and "Not a valid json" in garbled.json["detail"]
    assert fx.event_count() == before


def test_writes_need_identity_and_permission(fx: AdminClient) -> None:
    before = fx.event_count()
    body = {"name": "N", "product": "Firefox", "blob": json.dumps(blob("N"))}
    assert fx.post("/releases", body, as_user=None).status == 401
    assert fx.put("/releases/N", body, as_user=None).status == 401
    assert fx.post("/releases", body, as_user="bob").status == 403
    fx.service.grant_permission("releng", "release", {"products": ["Thunderbird"]}, "alice")
    before = fx.event_count()
    denied = refused(fx.post("/releases", body, as_user="releng"), 403, "Permission Denied")
    assert denied["exception"] == "releng is not allowed to create releases for product Firefox"
    assert fx.event_count() == before


# ----------------------------------------------------------- PUT: replace


def _put_p(fx: AdminClient, blob_of_p: dict[str, Any], **extra: Any) -> Any:
    """``PUT /releases/P`` of a Firefox release with this blob."""
    body = {"name": "P", "product": "Firefox", "blob": json.dumps(blob_of_p), **extra}
    return fx.put("/releases/P", body)


def test_put_creates_then_replaces(fx: AdminClient) -> None:
    created = _put_p(fx, blob("P"))
    assert created.status == 201 and created.body == b""
    replaced = _put_p(fx, blob("P", detailsUrl="u"), data_version=1)
    assert (replaced.status, replaced.json) == (200, {"new_data_version": 2})
    assert fx.get("/releases/P").json["detailsUrl"] == "u"
    before = fx.event_count()
    nodv = _put_p(fx, blob("P"))
    refused(nodv, 400, "data_version field is missing")
    wrong = _put_p(fx, blob("Q"), data_version=2)
    assert refused(wrong, 400, "Couldn't update release")["exception"] == [
        "name in database (P) does not match name in blob (Q)"
    ]
    # Stale, and changing what changed since: refused.
    stale = _put_p(fx, blob("P", detailsUrl="v"), data_version=1)
    refused(stale, 400, "OutdatedDataError")
    assert fx.event_count() == before


def test_put_at_an_older_data_version_merges(fx: AdminClient) -> None:
    make(fx, "M", detailsUrl="a")
    fx.service.replace_release_blob("M", 1, blob("M", detailsUrl="b"), "alice")
    merged = fx.put(
        "/releases/M",
        {
            "name": "M",
            "product": "Firefox",
            "blob": json.dumps(blob("M", detailsUrl="a", licenseUrl="l")),
            "data_version": 1,
        },
    )
    assert (merged.status, merged.json) == (200, {"new_data_version": 3})
    assert fx.get("/releases/M").json == blob("M", detailsUrl="b", licenseUrl="l")


def test_put_refuses_read_only_and_signoff_guarded(fx: AdminClient) -> None:
    guard_firefox_release(fx)
    body = {"name": MAPPED, "product": "Firefox", "data_version": 1}
    before = fx.event_count()
    guarded = fx.put(
        f"/releases/{MAPPED}", {**body, "blob": json.dumps(fx.get(f"/releases/{MAPPED}").json)}
    )
    assert refused(guarded, 400, "Signoff Required")["exception"] == "No Signoffs given"
    make(fx, "RO")
    fx.service.set_release_read_only("RO", 1, True, "alice")
    before = fx.event_count()
    locked = fx.put(
        "/releases/RO",
        {"name": "RO", "product": "Firefox", "blob": json.dumps(blob("RO")), "data_version": 2},
    )
    body = refused(locked, 403, "Couldn't update release. Release is marked read only")
    assert body["exception"] == ["Release 'RO' is read only"]
    assert fx.event_count() == before


# ------------------------------------------------------- POST: merge keys


def test_post_merges_keys_and_creates(fx: AdminClient) -> None:
    make(fx, "K", detailsUrl="a")
    data = json.dumps({"detailsUrl": "b", "licenseUrl": "l", "schema_version": 1})
    merged = fx.post("/releases/K", {"product": "Firefox", "data": data, "data_version": 1})
    assert (merged.status, merged.json) == (200, {"new_data_version": 2})
    assert fx.get("/releases/K").json == blob("K", detailsUrl="b", licenseUrl="l")
    fresh = fx.post(
        "/releases/F",
        {
            "product": "Firefox",
            "data": json.dumps({"detailsUrl": "d"}),
            "schema_version": 1,
            "hashFunction": "sha512",
        },
    )
    assert (fresh.status, fresh.json) == (201, {"new_data_version": 2})
    assert fx.get("/releases/F").json == blob("F", detailsUrl="d")


def test_post_refusals(fx: AdminClient) -> None:
    make(fx, "K")
    fx.service.replace_release_blob("K", 1, blob("K", detailsUrl="x"), "alice")
    before = fx.event_count()
    base = {"product": "Firefox", "data": json.dumps({"detailsUrl": "y"}), "schema_version": 1}
    refused(fx.post("/releases/K", base), 400, "Release exists, data_version must be provided")
    refused(
        fx.post("/releases/K", {"product": "Firefox", "data": json.dumps({})}),
        400,
        "schema_version is required",
    )
    refused(
        fx.post("/releases/K", {**base, "product": "Thunderbird", "data_version": 2}),
        400,
        "Product name 'Thunderbird' doesn't match the one on the release object ('Firefox') "
        "for release 'K'",
    )
    stale = fx.post("/releases/K", {**base, "data_version": 1})
    message = "Failed to update row, old_data_version doesn't match current data_version"
    assert refused(stale, 400, f"Couldn't update release: {message}")["exception"] == [message]
    invalid = fx.post("/releases/K", {**base, "data": json.dumps({"bogus": 1}), "data_version": 2})
    refused(invalid, 400, "Couldn't update release: Invalid blob! See 'errors' for details.")
    extra = "Additional properties are not allowed ('bogus' was unexpected)"
    assert invalid.json["exception"] == [extra]
    refused(fx.post("/releases/K", {"product": "Firefox"}), 400, "'data' is a required property")
    assert fx.event_count() == before


# ----------------------------------------------------------------- delete


def test_delete(fx: AdminClient) -> None:
    fx.service.grant_permission("releng", "release", {"actions": ["create"]}, "alice")
    before = fx.event_count()
    mapped = fx.delete(f"/releases/{MAPPED}", query={"data_version": 1})
    body = refused(mapped, 400, "Unknown error")
    assert body["exception"] == f"{MAPPED} has rules pointing to it. Hence it cannot be deleted."
    refused(fx.delete("/releases/nope", query={"data_version": 1}), 404, "Release: nope not found")
    refused(fx.delete(f"/releases/{UNMAPPED}"), 400, "Missing query parameter 'data_version'")
    refused(fx.delete(f"/releases/{UNMAPPED}", query={"data_version": 2}), 400, "OutdatedDataError")
    assert fx.delete(f"/releases/{UNMAPPED}", query={"data_version": 1}, as_user=None).status == 401
    refused(
        fx.delete(f"/releases/{UNMAPPED}", query={"data_version": 1}, as_user="releng"),
        403,
        "Permission Denied",
    )
    assert fx.event_count() == before
    gone = fx.delete(f"/releases/{UNMAPPED}", query={"data_version": 1})
    assert gone.status == 200 and gone.body == b""
    assert fx.get(f"/releases/{UNMAPPED}").status == 404


def test_delete_read_only(fx: AdminClient) -> None:
    make(fx, "RO")
    fx.service.set_release_read_only("RO", 1, True, "alice")
    locked = fx.delete("/releases/RO", query={"data_version": 2})
    refused(locked, 403, "Couldn't delete RO. Release is marked read only")


# --------------------------------------------------------------- read-only


def test_read_only_switch(fx: AdminClient) -> None:
    assert fx.get(f"/releases/{UNMAPPED}/read_only", as_user=None).json == {"read_only": False}
    refused(fx.get("/releases/nope/read_only"), 404, "Release: nope not found")
    set_ = fx.put(f"/releases/{UNMAPPED}/read_only", {"read_only": True, "data_version": 1})
    assert (set_.status, set_.json) == (201, {"new_data_version": 2})
    assert fx.get(f"/releases/{UNMAPPED}/read_only").json == {"read_only": True}
    again = fx.put(f"/releases/{UNMAPPED}/read_only", {"read_only": True, "data_version": 2})
    assert (again.status, again.json) == (201, {"new_data_version": 2})
    fx.service.grant_permission("releng", "release_read_only", {"actions": ["set"]}, "alice")
    before = fx.event_count()
    refused(
        fx.put(f"/releases/{UNMAPPED}/read_only", {"read_only": ""}),
        400,
        "'data_version' is a required property",
    )
    refused(
        fx.put(f"/releases/{UNMAPPED}/read_only", {"read_only": "", "data_version": 1}),
        400,
        "OutdatedDataError",
    )
    denied = fx.put(
        f"/releases/{UNMAPPED}/read_only", {"read_only": False, "data_version": 2}, as_user="releng"
    )
    assert refused(denied, 403, "Permission Denied")["exception"] == (
        "releng is not allowed to mark Firefox products read write"
    )
    # Balrog checks the permission before the data_version.
    stale = fx.put(
        f"/releases/{UNMAPPED}/read_only", {"read_only": False, "data_version": 9}, as_user="releng"
    )
    assert refused(stale, 403, "Permission Denied")["exception"] == (
        "releng is not allowed to mark Firefox products read write"
    )
    assert (
        fx.put(
            f"/releases/{UNMAPPED}/read_only", {"read_only": False, "data_version": 2}, as_user=None
        ).status
        == 401
    )
    assert fx.event_count() == before
    cleared = fx.put(f"/releases/{UNMAPPED}/read_only", {"read_only": "", "data_version": 2})
    assert (cleared.status, cleared.json) == (201, {"new_data_version": 3})


def test_unlocking_needs_product_signoffs(fx: AdminClient) -> None:
    guard_firefox_release(fx)
    signoffs = fx.get(f"/releases/{UNMAPPED}/read_only/product/required_signoffs", as_user=None)
    assert signoffs.json == {"required_signoffs": {"relman": 1}}
    other = fx.get("/releases/GMP-Superblob-2023/read_only/product/required_signoffs")
    assert other.json == {"required_signoffs": {}}
    refused(
        fx.get("/releases/nope/read_only/product/required_signoffs"), 404, "Release: nope not found"
    )
    fx.put(f"/releases/{UNMAPPED}/read_only", {"read_only": True, "data_version": 1})
    before = fx.event_count()
    unlock = fx.put(f"/releases/{UNMAPPED}/read_only", {"read_only": False, "data_version": 2})
    assert refused(unlock, 400, "Signoff Required")["exception"] == "No Signoffs given"
    assert fx.event_count() == before


# -------------------------------------------------------- locale uploads


def test_locale_upload_created_updated_and_merged(fx: AdminClient) -> None:
    url = "/releases/L/builds/p/de"
    body = {
        "product": "Firefox",
        "data": json.dumps(LOCALE),
        "schema_version": 1,
        "hashFunction": "sha512",
    }
    created = fx.put(url, body)  # the release is created, then the locale added
    assert (created.status, created.json) == (201, {"new_data_version": 2})
    assert fx.get(url).json == LOCALE and fx.get(url).headers["X-Data-Version"] == "2"
    other = {**LOCALE, "complete": {**LOCALE["complete"], "filesize": 2}}
    updated = fx.put(url, {**body, "data": json.dumps(other), "data_version": 2})
    assert (updated.status, updated.json) == (200, {"new_data_version": 3})
    # Two uploads made from data_version 3: the second is merged in.
    first = fx.put("/releases/L/builds/p/fr", {**body, "data_version": 3})
    second = fx.put("/releases/L/builds/p/it", {**body, "data_version": 3})
    assert (first.status, first.json) == (201, {"new_data_version": 4})
    assert (second.status, second.json) == (201, {"new_data_version": 5})
    locales = fx.get("/releases/L").json["platforms"]["p"]["locales"]
    assert sorted(locales) == ["de", "fr", "it"]
    # An aliased platform's upload lands on its target.
    fx.put("/releases/L/builds/q/de", {**body, "data_version": 5, "alias": '["q-alias"]'})
    aliased = fx.put("/releases/L/builds/q-alias/fr", {**body, "data_version": 6})
    assert aliased.status == 201
    platforms = fx.get("/releases/L").json["platforms"]
    assert platforms["q-alias"] == {"alias": "q"} and sorted(platforms["q"]["locales"]) == [
        "de",
        "fr",
    ]


def test_locale_upload_refusals(fx: AdminClient) -> None:
    make(fx, "L", platforms={"p": {"locales": {"de": LOCALE}}})
    url = "/releases/L/builds/p/de"
    body = {"product": "Firefox", "data": json.dumps(LOCALE), "schema_version": 1}
    before = fx.event_count()
    refused(fx.put(url, body), 400, "Release exists, data_version must be provided")
    bad = fx.put(url, {**body, "data": json.dumps({"complete": 5}), "data_version": 1})
    detail = "Couldn't update release: Invalid blob! See 'errors' for details."
    assert refused(bad, 400, detail)["exception"] == [
        "{'locales': {'de': {'complete': 5}}} is not valid under any of the given schemas"
    ]
    assert fx.put(url, {**body, "data_version": 1}, as_user=None).status == 401
    fx.service.grant_permission("releng", "release", {"products": ["Firefox"]}, "alice")
    before = fx.event_count()
    changed = {**LOCALE["complete"], "filesize": 2}
    denied = refused(
        fx.put(url, {**body, "data_version": 1}, as_user="releng"), 403, "Permission Denied"
    )
    assert denied["exception"] == "releng is not allowed to add builds for product Firefox"
    fx.service.replace_release_blob(
        "L", 1, blob("L", platforms={"p": {"locales": {"de": {"complete": changed}}}}), "alice"
    )
    before = fx.event_count()
    conflict = fx.put(
        url,
        {**body, "data": json.dumps({"complete": {**changed, "filesize": 3}}), "data_version": 1},
    )
    assert conflict.json["detail"].startswith("Couldn't update release: Failed to update row")
    fx.service.set_release_read_only("L", 2, True, "alice")
    before = fx.event_count()
    locked = fx.put(url, {**body, "data_version": 3})
    refused(locked, 403, "Couldn't update release: Release 'L' is read only")
    assert fx.event_count() == before


def test_locale_upload_needs_signoffs_on_guarded_release(fx: AdminClient) -> None:
    guard_firefox_release(fx)
    before = fx.event_count()
    url = f"/releases/{MAPPED}/builds/Linux_x86_64-gcc3/de"
    en = fx.get(f"/releases/{MAPPED}/builds/Linux_x86_64-gcc3/en-US").json
    guarded = fx.put(
        url, {"product": "Firefox", "data": json.dumps(en), "data_version": 1, "schema_version": 9}
    )
    assert refused(guarded, 400, "Signoff Required")["exception"] == "No Signoffs given"
    assert fx.event_count() == before


# -------------------------------------------------------------- revisions


def test_revisions_and_revert(fx: AdminClient) -> None:
    make(fx, "R", detailsUrl="a")
    fx.service.replace_release_blob("R", 1, blob("R", detailsUrl="b"), "alice")
    fx.service.set_release_read_only("R", 2, True, "alice")
    listed = fx.get("/releases/R/revisions", as_user=None)
    assert listed.status == 200 and listed.json["count"] == 3
    newest, middle, oldest = listed.json["revisions"]
    assert [r["data_version"] for r in (newest, middle, oldest)] == [3, 2, 1]
    assert newest["read_only"] == "True" and oldest["read_only"] == "False"
    assert newest["_different"] == [] and middle["_different"] == ["read_only"]
    assert oldest["_different"] == ["read_only", "data"] and "data" not in oldest
    assert newest["changed_by"] == "alice" and newest["_time_ago"] == "just now"
    assert newest["change_id"] > middle["change_id"] > oldest["change_id"]
    paged = fx.get("/releases/R/revisions", query={"page": 2, "limit": 2}).json
    assert paged["count"] == 3 and [r["data_version"] for r in paged["revisions"]] == [1]
    missing = fx.get("/releases/nope/revisions")
    assert (missing.status, missing.text) == (404, "Requested object does not exist")

    before = fx.event_count()
    change = {"change_id": oldest["change_id"]}
    locked = fx.post("/releases/R/revisions", change)
    assert refused(locked, 400, "Read only")["exception"] == "Release 'R' is read only"
    fx.service.set_release_read_only("R", 3, False, "alice")
    before = fx.event_count()
    refused(fx.post("/releases/R/revisions", {}), 400, "No change_id passed in the request body")
    refused(
        fx.post("/releases/R/revisions", {"change_id": 10**9}),
        400,
        f"Invalid change_id : {10**9} passed in the request body",
    )
    other = fx.get(f"/releases/{UNMAPPED}/revisions").json["revisions"][0]["change_id"]
    refused(
        fx.post("/releases/R/revisions", {"change_id": other}),
        400,
        "Bad name passed in the request",
    )
    refused(fx.post("/releases/nope/revisions", change), 404, "bad release")
    assert fx.post("/releases/R/revisions", change, as_user=None).status == 401
    assert fx.event_count() == before
    reverted = fx.post("/releases/R/revisions", change)
    assert (reverted.status, reverted.text) == (200, "Excellent!")
    assert fx.get("/releases/R").json == blob("R", detailsUrl="a")
    assert fx.get("/releases/R").headers["X-Data-Version"] == "5"


def test_revert_of_guarded_release_needs_signoffs(fx: AdminClient) -> None:
    guard_firefox_release(fx)
    change_id = fx.get(f"/releases/{MAPPED}/revisions").json["revisions"][0]["change_id"]
    before = fx.event_count()
    answer = fx.post(f"/releases/{MAPPED}/revisions", {"change_id": change_id})
    refused(answer, 400, "Signoff Required")
    assert fx.event_count() == before


def test_openapi_documents_every_release_route(fx: AdminClient) -> None:
    paths = fx.get("/openapi.json", as_user=None).json["paths"]
    put = paths["/api/releases/{release}"]["put"]
    assert put["requestBody"]["content"]["application/json"]["schema"]
    assert {"200", "201", "400", "401", "403"} <= set(put["responses"])
    for path in (
        "/api/releases",
        "/api/releases/columns/{column}",
        "/api/releases/{release}/read_only",
        "/api/releases/{release}/read_only/product/required_signoffs",
        "/api/releases/{release}/builds/{platform}/{locale}",
        "/api/releases/{release}/revisions",
    ):
        assert path in paths


def test_other_products_permission_is_refused_everywhere(fx: AdminClient) -> None:
    fx.service.grant_permission("releng", "release", {"products": ["Thunderbird"]}, "alice")
    change_id = fx.get(f"/releases/{UNMAPPED}/revisions").json["revisions"][0]["change_id"]
    before = fx.event_count()
    whole = {
        "name": UNMAPPED,
        "product": "Firefox",
        "blob": json.dumps(blob(UNMAPPED, detailsUrl="x")),
        "data_version": 1,
    }
    partial = {
        "product": "Firefox",
        "data": json.dumps({"detailsUrl": "x"}),
        "schema_version": 1,
        "data_version": 1,
    }
    message = "releng is not allowed to modify releases for product Firefox"
    for answer in (
        fx.put(f"/releases/{UNMAPPED}", whole, as_user="releng"),
        fx.post(f"/releases/{UNMAPPED}", partial, as_user="releng"),
        fx.post(f"/releases/{UNMAPPED}/revisions", {"change_id": change_id}, as_user="releng"),
    ):
        assert refused(answer, 403, "Permission Denied")["exception"] == message
    # Moving a release to a product one may not write is refused too.
    fx.service.grant_permission("tb", "release", {"products": ["Firefox"]}, "alice")
    fx.token_for("tb")
    before = fx.event_count()
    moved = fx.put(f"/releases/{UNMAPPED}", {**whole, "product": "Thunderbird"}, as_user="tb")
    assert refused(moved, 403, "Permission Denied")["exception"] == (
        "tb is not allowed to modify releases for product Thunderbird"
    )
    assert fx.event_count() == before


def test_post_and_copy_to(fx: AdminClient) -> None:
    make(fx, "C1")
    body = {
        "product": "Firefox",
        "data": json.dumps({"detailsUrl": "d"}),
        "schema_version": 1,
        "hashFunction": "sha512",
        "data_version": 1,
        "copyTo": '["C2"]',
    }
    answer = fx.post("/releases/C1", body)
    assert (answer.status, answer.json) == (200, {"new_data_version": 2})
    assert fx.get("/releases/C2").json == blob("C2", detailsUrl="d")
    guard_firefox_release(fx)
    before = fx.event_count()
    guarded = fx.post(
        f"/releases/{MAPPED}",
        {
            **body,
            "copyTo": None,
            "schema_version": 9,
            "data": json.dumps({"displayVersion": "121"}),
        },
    )
    assert refused(guarded, 400, "Signoff Required")["exception"] == "No Signoffs given"
    assert fx.event_count() == before
    # copyTo is one transaction, as Balrog's: C9 may be written directly, but the guarded
    # release it is copied to may not, so neither is written.
    make(fx, "C9", schema_version=9)
    before = fx.event_count()
    copied = fx.post(
        "/releases/C9",
        {**body, "schema_version": 9, "data": json.dumps({"displayVersion": "121.0"}),
         "copyTo": json.dumps([MAPPED])},
    )
    assert refused(copied, 400, "Signoff Required")["exception"] == "No Signoffs given"
    assert fx.event_count() == before
    assert fx.get("/releases/C9").json == blob("C9", schema_version=9)


def test_blob_fields_are_json_text_as_in_balrog(fx: AdminClient) -> None:
    before = fx.event_count()
    as_object = fx.post("/releases", {"name": "O", "product": "Firefox", "blob": {"name": "O"}})
    refused(as_object, 400, "blob: {'name': 'O'} is not of type 'string'")
    partial = fx.post(f"/releases/{UNMAPPED}", {"product": "Firefox", "data": {"x": 1}})
    refused(partial, 400, "data: {'x': 1} is not of type 'string'")
    copy_to = {"product": "Firefox", "data": "{}", "copyTo": ["C2"], "data_version": 1}
    listed = fx.post(f"/releases/{UNMAPPED}", copy_to)
    refused(listed, 400, "copyTo: ['C2'] is not of type 'string'")
    # A blob refused by the schema: Balrog's PUT says only that, and lists each error.
    bad = {"name": "O", "schema_version": 9, "hashFunction": "sha512", "appVersion": 5}
    put = fx.put("/releases/O", {"name": "O", "product": "Firefox", "blob": json.dumps(bad)})
    assert refused(put, 400, "Couldn't update release")["exception"] == [
        "5 is not of type 'string'"
    ]
    assert fx.event_count() == before


# ------------------------------------------ round 2: Balrog's answers, side by side


def test_locking_a_release_with_a_pending_change_is_refused(fx: AdminClient) -> None:
    sc = fx.post("/scheduled_changes/releases", {
        "change_type": "update", "when": 1_900_000_000_000, "name": UNMAPPED,
        "product": "Firefox", "data": json.dumps(blob(UNMAPPED)), "data_version": 1,
    })
    assert sc.status == 200, sc.text
    before = fx.event_count()
    # Balrog merges the flag into the pending change, which then finds the release locked.
    locked = fx.put(f"/releases/{UNMAPPED}/read_only", {"read_only": True, "data_version": 1})
    assert refused(locked, 400, "Read only")["exception"] == f"Release '{UNMAPPED}' is read only"
    assert fx.get(f"/releases/{UNMAPPED}/read_only").json == {"read_only": False}
    assert fx.event_count() == before


def test_blob_class_checks_are_worded_as_balrog_words_them(fx: AdminClient) -> None:
    gmp = {"name": "gmp-1", "schema_version": 1000, "hashFunction": "SHA512", "vendors": {
        "c": {"version": "1", "platforms": {"p": {
            "filesize": 2, "hashValue": "3", "fileUrl": "http://edgedl.me.gvt1.com/x"}}}}}
    before = fx.event_count()
    short = fx.put("/releases/gmp-1", {"name": "gmp-1", "product": "GMP", "blob": json.dumps(gmp)})
    assert refused(short, 400, "Couldn't update release")["exception"] == [
        "The hashValue length is different from the required length of 128 for sha512."
    ]
    v9 = {"name": "v9", "schema_version": 9, "hashFunction": "sha512", "appVersion": "1.0",
          "displayVersion": "1.0", "updateLine": [{"for": {}, "fields": {"disableBITS": False}}]}
    bits = fx.post("/releases", {"name": "v9", "product": "Firefox", "blob": json.dumps(v9)})
    assert bits.status == 400 and bits.json["exception"] == ["False is not one of [True]"]
    # A scheduled change naming a host its product may not use: Balrog's ValueError.
    evil = dict(blob("evil"), platforms={"p": {"locales": {"de": {"complete": {
        "filesize": 1, "from": "*", "hashValue": "x", "fileUrl": "http://evil.example/x"}}}}})
    scheduled = fx.post("/scheduled_changes/releases", {
        "change_type": "insert", "when": 1_900_000_000_000, "name": "evil",
        "product": "Firefox", "data": json.dumps(evil)})
    assert scheduled.status == 400 and scheduled.json["detail"] == "Unknown error"
    assert scheduled.json["exception"] == "Blob contains forbidden domain(s)"
    assert fx.event_count() == before
