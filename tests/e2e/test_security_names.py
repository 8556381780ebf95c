"""Issue 17, finding 7: a release that could not be addressed by its URL is never created."""

from __future__ import annotations

import json

import pytest

from tests.e2e.conftest import AdminClient

BAD_NAMES = ["a/b", "..", "x..y", "nul\x00", "cr\r\nlf", "bidi\u202eevil", "iso\u2066late"]


@pytest.mark.parametrize("name", BAD_NAMES)
def test_unaddressable_release_names_are_refused(admin: AdminClient, name: str) -> None:
    admin.token_for("alice")
    before = admin.event_count()
    blob = {"name": name, "schema_version": 1, "hashFunction": "sha512"}
    answer = admin.post("/releases", {"name": name, "product": "Firefox", "blob": json.dumps(blob)})
    assert answer.status == 400, answer.text
    assert "name" in answer.json["detail"] or "name" in str(answer.json.get("exception"))
    assert admin.event_count() == before


def test_an_ordinary_name_is_still_created_and_addressable(admin: AdminClient) -> None:
    name = "Firefox-121.0-build1"
    blob = {"name": name, "schema_version": 1, "hashFunction": "sha512"}
    made = admin.post("/releases", {"name": name, "product": "Firefox", "blob": json.dumps(blob)})
    assert made.status == 201, made.text
    assert admin.get(f"/releases/{name}", as_user=None).status == 200
