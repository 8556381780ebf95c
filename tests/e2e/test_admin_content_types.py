"""Success answers carry the Content-Type Balrog's Flask views give them.

Balrog builds many admin answers as a bare ``Response(json.dumps(...))`` or
``Response(status=200)``; Flask labels them ``text/html; charset=utf-8``. Tools
that replay or compare recorded sessions check that header, so each of these
routes is driven once here and its header and body checked.
"""

from __future__ import annotations

import json
from typing import Any

from tests.e2e.conftest import AdminClient

HTML = "text/html; charset=utf-8"
JSON = "application/json"
LOCALE = {"complete": {"filesize": 1, "from": "*", "hashValue": "abc"}}


def blob(name: str) -> str:
    return json.dumps({"name": name, "schema_version": 1, "hashFunction": "sha512"})


#: The fields Balrog's v1 POST and locale PUT take beside ``data``.
FORM = {"product": "Firefox", "schema_version": 1, "hashFunction": "sha512"}


def html(answer: Any, status: int) -> str:
    assert answer.status == status, answer.text
    assert answer.headers["Content-Type"] == HTML, answer.headers
    return answer.text


def test_release_writes_answer_as_flask_does(admin: AdminClient) -> None:
    created = admin.post("/releases", {"name": "R1", "product": "Firefox", "blob": blob("R1")})
    assert json.loads(html(created, 201)) == {"new_data_version": 1}
    put_new = admin.put("/releases/R2", {"name": "R2", "product": "Firefox", "blob": blob("R2")})
    assert html(put_new, 201) == ""
    # Replacing an existing release is jsonify() in Balrog: JSON.
    replaced = admin.put(
        "/releases/R2",
        {"name": "R2", "product": "Firefox", "blob": blob("R2"), "data_version": 1},
    )
    assert replaced.status == 200 and replaced.headers["Content-Type"] == JSON
    merged = admin.post(
        "/releases/R1", {**FORM, "data_version": 1, "data": json.dumps({"detailsUrl": "d"})}
    )
    assert json.loads(html(merged, 200)) == {"new_data_version": 2}
    locale = admin.put(
        "/releases/R1/builds/WINNT_x86-msvc/de",
        {**FORM, "data_version": 2, "data": json.dumps(LOCALE)},
    )
    assert json.loads(html(locale, 201)) == {"new_data_version": 3}  # a new locale
    read_only = admin.put("/releases/R1/read_only", {"read_only": True, "data_version": 3})
    assert json.loads(html(read_only, 201)) == {"new_data_version": 4}
    assert html(admin.get("/releases/Nope/revisions"), 404) == "Requested object does not exist"
    assert html(admin.delete("/releases/R2", query={"data_version": 2}), 200) == ""


def test_policies_and_shutoffs_answer_as_flask_does(admin: AdminClient) -> None:
    admin.service.grant_role("alice", "relman", "alice")
    policy = {"product": "Firefox", "channel": "beta", "role": "relman", "signoffs_required": 1}
    created = admin.post("/required_signoffs/product", policy)
    assert json.loads(html(created, 201)) == {"new_data_version": 1}
    shutoff = admin.post("/emergency_shutoff", {"product": "Thunderbird", "channel": "beta"})
    assert shutoff.status == 201 and shutoff.headers["Content-Type"] == JSON
    gone = admin.delete("/emergency_shutoff/Thunderbird/beta", query={"data_version": 1})
    assert html(gone, 200) == ""


def test_grants_answer_as_flask_does(admin: AdminClient) -> None:
    new = admin.put("/users/dora/permissions/rule", {"options": '{"products": ["Firefox"]}'})
    assert json.loads(html(new, 201)) == {"new_data_version": 1}
    # Changing a held permission is jsonify() in Balrog: JSON.
    changed = admin.put(
        "/users/dora/permissions/rule", {"options": '{"products": ["Fennec"]}', "data_version": 1}
    )
    assert changed.status == 200 and changed.headers["Content-Type"] == JSON
    role = admin.put("/users/dora/roles/qa")
    assert json.loads(html(role, 201)) == {"new_data_version": 1}
    again = admin.put("/users/dora/roles/qa")
    assert json.loads(html(again, 200)) == {"new_data_version": 1}
    assert html(admin.delete("/users/dora/roles/qa", query={"data_version": 1}), 200) == ""
    gone = admin.delete("/users/dora/permissions/rule", query={"data_version": 2})
    assert html(gone, 200) == ""
