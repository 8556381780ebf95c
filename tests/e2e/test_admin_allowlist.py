"""Download-domain allowlist at write time: a blob naming a host its product may not
use is refused as Balrog's admin refuses it, and nothing is stored."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from rulelog.api.config import domain_allowlist
from rulelog.domain.errors import Invalid
from rulelog.domain.serving.blobs.common import PRODUCTION_ALLOWLIST
from tests.e2e.conftest import AdminClient

NAME = "Firefox-130.0-build1"
FORBIDDEN = ["Blob contains forbidden domain(s)"]
UPDATE_FAILED = "Couldn't update release"


def blob(url: str) -> dict[str, Any]:
    """Firefox 130 (schema 9) whose one download URL is ``url``."""
    release = {"name": NAME, "schema_version": 9, "hashFunction": "sha512"}
    versions = {"appVersion": "130.0", "displayVersion": "130.0"}
    return {**release, **versions, "fileUrls": {"*": {"completes": {"*": url}}}, "platforms": {}}


@pytest.mark.parametrize(
    ("method", "path", "body", "detail"),
    [
        ("POST", "/releases", {"name": NAME, "product": "Firefox"}, "Couldn't create release"),
        ("PUT", f"/releases/{NAME}", {"name": NAME, "product": "Firefox"}, UPDATE_FAILED),
    ],
)
def test_a_blob_naming_a_host_not_allowed_is_refused(
    admin: AdminClient, method: str, path: str, body: dict, detail: str
) -> None:
    admin.token_for("alice")
    before = admin.event_count()
    sent = {**body, "blob": json.dumps(blob("https://downloads.example.com/%LOCALE%"))}
    answer = admin.request(method, path, json_body=sent)
    assert answer.status == 400, answer.text
    assert answer.json["detail"] == detail
    assert answer.json["exception"] == FORBIDDEN
    assert admin.event_count() == before


def test_a_host_allowed_for_another_product_only_is_refused(admin: AdminClient) -> None:
    """ciscobinary.openh264.org serves OpenH264, not Firefox."""
    sent = {"name": NAME, "product": "Firefox",
            "blob": json.dumps(blob("http://ciscobinary.openh264.org/x"))}  # fmt: skip
    assert admin.post("/releases", sent).status == 400
    allowed = {**sent, "blob": json.dumps(blob("http://download.mozilla.org/?lang=%LOCALE%"))}
    made = admin.post("/releases", allowed)
    assert made.status == 201, made.text


def test_the_allowlist_comes_from_one_setting(tmp_path: Path) -> None:
    assert domain_allowlist({}) is PRODUCTION_ALLOWLIST
    path = tmp_path / "allow.json"
    path.write_text(json.dumps({"cdn.example.com": ["Firefox"]}))
    assert domain_allowlist({"RULELOG_DOMAIN_ALLOWLIST": str(path)}) == {
        "cdn.example.com": ("Firefox",)
    }
    path.write_text("[1, 2]")
    with pytest.raises(Invalid, match="must map hosts"):
        domain_allowlist({"RULELOG_DOMAIN_ALLOWLIST": str(path)})
    with pytest.raises(Invalid, match="cannot read"):
        domain_allowlist({"RULELOG_DOMAIN_ALLOWLIST": str(tmp_path / "missing.json")})
