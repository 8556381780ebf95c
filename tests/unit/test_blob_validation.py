"""Release blobs are accepted or refused exactly as Balrog would.

Tables of cases: every blob in the fixture, a minimal valid blob of each type,
and variations that break one rule each, checking that the error is one line
naming the offending path. The cases mirror Balrog's schemas
(``src/auslib/blobs/schemas``) and its extra ``validate()`` checks.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from rulelog.domain.errors import Invalid
from rulelog.domain.serving.blobs import schemas  # the fast path, for its test
from rulelog.domain.serving.blobs.validation import SCHEMA_FILES, schema_for, validate_blob

FIXTURE = Path(__file__).resolve().parents[1] / "data" / "fixture.json"
RELEASES: list[dict[str, Any]] = json.loads(FIXTURE.read_text(encoding="utf-8"))["releases"]

H64, H128 = "a" * 64, "b" * 128
DROP = object()  # in changed(): remove the key instead of setting it


def changed(blob: dict[str, Any], path: str, value: object) -> dict[str, Any]:
    """A copy of ``blob`` with the dotted ``path`` set to ``value`` (or removed, for DROP)."""
    new = copy.deepcopy(blob)
    *parents, last = [int(p) if p.isdigit() else p for p in path.split(".")]
    node: Any = new
    for part in parents:
        node = node[part]
    if value is DROP:
        del node[last]
    else:
        node[last] = value
    return new


def assert_invalid(blob: object, message_start: str, field: str = "blob", **kwargs: Any) -> None:
    with pytest.raises(Invalid) as caught:
        validate_blob(blob, **kwargs)
    error = caught.value
    assert error.field == field
    assert "\n" not in error.message
    assert error.message.startswith(message_start), error.message


# --------------------------------------------------------------------------- minimal blobs

PARTIAL = {"filesize": 5, "from": "Firefox-59.0-build1", "hashValue": H128}
COMPLETE = {"filesize": "6", "from": "*", "hashValue": H128, "fileUrl": "http://a.test/c.mar"}
PROOF = {"binTransInclusionProof": "proof"}

V1 = {
    "name": "Firefox-3.6-build1",
    "schema_version": 1,
    "hashFunction": "sha512",
    "extv": "3.6",
    "appv": "3.6",
    "oldVersionSpecialCases": True,
    "fileUrls": {"release": "http://dl.test/?product=%PRODUCT%&os=%OS_BOUNCER%"},
    "bouncerProducts": {"complete": "firefox-3.6-complete"},
    "platforms": {
        "p": {
            "buildID": "20100101",
            "OS_BOUNCER": "win",
            "locales": {"de": {"buildID": 20100102, "partial": PARTIAL, "complete": COMPLETE}},
        },
        "q": {"alias": "p"},
    },
}
V2 = {
    "name": "Firefox-4.0-build1",
    "schema_version": 2,
    "hashFunction": "sha512",
    "appVersion": "4.0",
    "platformVersion": "2.0",
    "displayVersion": "4.0",
    "billboardURL": "http://b.test/%LOCALE%",
    "showPrompt": False,
    "platforms": {
        "p": {"locales": {"de": {"isOSUpdate": False, "partial": PARTIAL, "complete": COMPLETE}}}
    },
}
V3 = {
    "name": "Firefox-10.0-build1",
    "schema_version": 3,
    "hashFunction": "sha512",
    "fileUrls": {"release": "http://dl.test/%FILENAME%"},
    "ftpFilenames": {"completes": {"*": "complete.mar"}, "partials": {"Firefox-9.0": "p.mar"}},
    "platforms": {"p": {"locales": {"de": {"partials": [PARTIAL], "completes": [COMPLETE]}}}},
}
V4 = {
    "name": "Firefox-20.0-build1",
    "schema_version": 4,
    "hashFunction": "sha512",
    "appVersion": "20.0",
    "fileUrls": {"release": {"completes": {"*": "http://dl.test/?product=firefox-complete"}}},
    "platforms": {
        "p": {"buildID": "2013", "locales": {"de": {"completes": [COMPLETE]}}},
        "q": {"alias": "p", "comment": "alias platforms may carry anything else"},
    },
}
V5 = {**V4, "name": "Firefox-30.0-build1", "schema_version": 5, "promptWaitTime": 3600}
V6 = {**V5, "name": "Firefox-51.0-build1", "schema_version": 6}
V8 = {
    **V6,
    "name": "Firefox-56.0-build1",
    "schema_version": 8,
    "binTransMerkleRoot": "root",
    "platforms": {"p": {"locales": {"de": {"completes": [{**COMPLETE, **PROOF}]}}}},
}
V9 = {
    "name": "Firefox-60.0-build1",
    "schema_version": 9,
    "hashFunction": "sha512",
    "appVersion": "60.0",
    "displayVersion": "60.0",
    "updateLine": [
        {"for": {}, "fields": {"detailsURL": "http://d.test/", "type": "minor"}},
        {"for": {"channels": ["release*"], "versions": ["<59.0"]}, "fields": {"openURL": "u"}},
    ],
    "fileUrls": {"*": {"completes": {"*": "https://archive.test/pub/firefox/c.mar"}}},
    "platforms": {
        "p": {
            "locales": {"de": {"buildID": "2018", "partials": [PARTIAL], "completes": [COMPLETE]}}
        }
    },
}
DESUPPORT = {
    "name": "Firefox-desupport",
    "schema_version": 50,
    "detailsUrl": "https://support.test/%LOCALE%",
    "displayVersion": "Firefox 115 ESR",
}
GMP = {
    "name": "GMP-1",
    "schema_version": 1000,
    "hashFunction": "sha256",
    "vendors": {
        "x": {
            "version": "1.0",
            "platforms": {
                "p": {
                    "filesize": 10,
                    "hashValue": H64,
                    "fileUrl": "https://cdn.test/x.zip",
                    "mirrorUrls": ["https://mirror.test/x.zip"],
                },
                "q": {"alias": "p"},
            },
        }
    },
}
SUPERBLOB = {"name": "GMP-Superblob", "schema_version": 4000, "products": ["GMP", "Widevine"]}
SUPERBLOB_OF_BLOBS = {"name": "SystemAddons-Super", "schema_version": 4000, "blobs": ["A", "B"]}
SYSTEMADDONS = {
    "name": "SystemAddons-1",
    "schema_version": 5000,
    "hashFunction": "sha512",
    "addons": {
        "addon@mozilla": {
            "version": "1.0",
            "platforms": {
                "default": {"filesize": 1, "hashValue": H128, "fileUrl": "https://cdn.test/a.xpi"}
            },
        }
    },
}
SYSTEMADDONS_UNINSTALL = {"name": "SystemAddons-none", "schema_version": 5000, "uninstall": True}
GUARDIAN = {
    "name": "FirefoxVPN-1.0",
    "product": "FirefoxVPN",
    "schema_version": 10000,
    "version": "1.0",
    "required": True,
    "hashFunction": "sha512",
    "platforms": {"WINNT_x86_64": {"fileUrl": "https://vpn.test/1.0.msi", "hashValue": H128}},
}

MINIMAL = {
    "apprelease-v1": V1,
    "apprelease-v2": V2,
    "apprelease-v3": V3,
    "apprelease-v4": V4,
    "apprelease-v5": V5,
    "apprelease-v6": V6,
    "apprelease-v8": V8,
    "apprelease-v9": V9,
    "desupport": DESUPPORT,
    "gmp": GMP,
    "superblob-products": SUPERBLOB,
    "superblob-blobs": SUPERBLOB_OF_BLOBS,
    "systemaddons": SYSTEMADDONS,
    "systemaddons-uninstall": SYSTEMADDONS_UNINSTALL,
    "guardian": GUARDIAN,
}


# --------------------------------------------------------------------------- valid blobs


def test_fixture_has_the_eleven_releases() -> None:
    assert len(RELEASES) == 11


@pytest.mark.parametrize("release", RELEASES, ids=[r["name"] for r in RELEASES])
def test_every_fixture_blob_validates(release: dict[str, Any]) -> None:
    before = copy.deepcopy(release["data"])
    validate_blob(release["data"], name=release["name"])
    assert release["data"] == before  # validation never changes the blob


@pytest.mark.parametrize("blob", MINIMAL.values(), ids=MINIMAL.keys())
def test_minimal_blob_of_each_type_validates(blob: dict[str, Any]) -> None:
    validate_blob(blob, name=blob["name"])


@pytest.mark.parametrize(
    "blob",
    [
        pytest.param(changed(V9, "schema_version", 9.0), id="schema_version-9.0-is-9"),
        pytest.param(
            changed(V4, "platforms.p.locales.de.completes.0.filesize", ""), id="empty-size"
        ),
        pytest.param(changed(V4, "platforms.p.buildID", 2013.5), id="numeric-buildID-unchecked"),
        pytest.param(changed(V3, "ftpFilenames.other", 5), id="v3-ftpFilenames-open"),
        pytest.param(changed(GMP, "vendors.", {"note": 1}), id="gmp-unnamed-vendor-unchecked"),
        pytest.param(changed(V6, "fileUrls.release", {}), id="empty-channel"),
        pytest.param(changed(V9, "updateLine.0.for.versions", [""]), id="empty-version-ok"),
        pytest.param(changed(V1, "fileUrls.release", "not a url"), id="uri-format-unchecked"),
    ],
)
def test_balrog_leniencies_are_kept(blob: dict[str, Any]) -> None:
    validate_blob(blob)


# --------------------------------------------------------------------------- schema errors

LOCALE9 = "platforms.p.locales.de"

SCHEMA_ERRORS = [
    # shared structure
    (changed(V9, "name", DROP), "blob: 'name' is a required property"),
    (changed(V9, "name", ""), "blob: name: '' must be at least 1 characters long"),
    (changed(V9, "product", "x" * 101), "blob: product: 'xxxxx"),
    (changed(V9, "hashFunction", 512), "blob: hashFunction: 512 is not of type 'string'"),
    (changed(V9, "extra", 1), "blob: unexpected property 'extra'"),
    (changed(V9, "platforms.", {}), "blob: platforms: unexpected property ''"),
    (changed(V9, "platforms.q", {"alias": 5}), "blob: platforms.q.alias: 5 is not of type"),
    (changed(V9, "platforms.q", "p"), "blob: platforms.q: 'p' is not of type 'object'"),
    (changed(V9, "platforms.p.OS_FTP", None), "blob: platforms.p.OS_FTP: None is not of type"),
    (changed(V9, "platforms.p.buildID", "2018-01"), "blob: platforms.p.buildID: '2018-01' does"),
    (
        changed(V9, f"{LOCALE9}.completes.0.filesize", "abc"),
        f"blob: {LOCALE9}.completes.0.filesize: 'abc' does not match '^[0-9]*$'",
    ),
    (
        changed(V9, f"{LOCALE9}.completes.0.filesize", True),
        f"blob: {LOCALE9}.completes.0.filesize: True is not of type 'string' or 'number'",
    ),
    (
        changed(V9, f"{LOCALE9}.partials.0.hashValue", DROP),
        f"blob: {LOCALE9}.partials.0: 'hashValue' is a required property",
    ),
    (changed(V9, f"{LOCALE9}.completes", {}), f"blob: {LOCALE9}.completes: {{}} is not of type"),
    # what each generation allows
    (changed(V1, "appVersion", "3.6"), "blob: unexpected property 'appVersion'"),
    (changed(V1, "ftpFilenames", {"partials": "x"}), "blob: ftpFilenames: unexpected property"),
    (
        changed(V1, "platforms.p.locales.de.complete.from", "Firefox-3.5"),
        "blob: platforms.p.locales.de.complete.from: must be '*', not 'Firefox-3.5'",
    ),
    (changed(V2, "showPrompt", "yes"), "blob: showPrompt: 'yes' is not of type 'boolean'"),
    (
        changed(V2, "platforms.p.locales.de.partials", []),
        "blob: platforms.p.locales.de: unexpected property 'partials'",
    ),
    (changed(V3, "fileUrls.release", {}), "blob: fileUrls.release: {} is not of type 'string'"),
    (changed(V4, "fileUrls.release", "http://x"), "blob: fileUrls.release: 'http://x' is not of"),
    (
        changed(V4, "fileUrls.release.complete", {}),
        "blob: fileUrls.release: unexpected property 'complete'",
    ),
    (changed(V4, "promptWaitTime", 5), "blob: unexpected property 'promptWaitTime'"),
    (changed(V5, "promptWaitTime", "5"), "blob: promptWaitTime: '5' is not of type 'number'"),
    (changed(V6, "platformVersion", "51.0"), "blob: unexpected property 'platformVersion'"),
    (changed(V6, "billboardURL", "u"), "blob: unexpected property 'billboardURL'"),
    (
        changed(V8, "platforms.p.locales.de.completes.0.binTransInclusionProof", DROP),
        "blob: platforms.p.locales.de.completes.0: 'binTransInclusionProof' is a required",
    ),
    (changed(V9, "detailsUrl", "u"), "blob: unexpected property 'detailsUrl'"),
    (changed(V9, f"{LOCALE9}.isOSUpdate", True), f"blob: {LOCALE9}: unexpected property 'isOS"),
    (
        changed(V9, "updateLine.0.fields.type", "patch"),
        "blob: updateLine.0.fields.type: 'patch' is not one of ['minor', 'major']",
    ),
    (
        changed(V9, "updateLine.0.fields.disableBITS", False),
        "blob: updateLine.0.fields.disableBITS: False is not one of [True]",
    ),
    (changed(V9, "updateLine.0.if", {}), "blob: updateLine.0: unexpected property 'if'"),
    (
        changed(V9, "updateLine.1.for.versions", ["60.0b1"]),
        "blob: updateLine.1.for.versions.0: '60.0b1' is not a valid version",
    ),
    (
        changed(V9, "updateLine.1.for.versions", ["60.0,>=61.0"]),
        "blob: updateLine.1.for.versions.0: '60.0,>=61.0' is not a valid version: a list",
    ),
    (
        changed(V9, "updateLine.1.for.buildIDs", ["2018a"]),
        "blob: updateLine.1.for.buildIDs.0: '2018a' is not a valid buildID",
    ),
    # the other blob types
    (changed(DESUPPORT, "detailsUrl", DROP), "blob: 'detailsUrl' is a required property"),
    (changed(DESUPPORT, "fileUrls", {}), "blob: unexpected property 'fileUrls'"),
    (changed(GMP, "vendors.x.version", DROP), "blob: vendors.x: 'version' is a required"),
    (changed(GMP, "vendors.x.platforms.p.filesize", "10"), "blob: vendors.x.platforms.p.filesize"),
    (changed(GMP, "vendors.x.platforms.p.os", "win"), "blob: vendors.x.platforms.p: unexpected"),
    (
        changed(SUPERBLOB, "blobs", ["A"]),
        "blob: must have exactly one of 'products' or 'blobs'",
    ),
    (
        changed(SUPERBLOB, "products", DROP),
        "blob: must have exactly one of 'products' or 'blobs'",
    ),
    (changed(SUPERBLOB, "products", [""]), "blob: products.0: '' must be at least 1 characters"),
    (
        changed(SYSTEMADDONS, "uninstall", False),
        "blob: must have exactly one of 'uninstall' or 'addons'",
    ),
    (
        changed(SYSTEMADDONS, "addons.addon@mozilla.platforms.default.fileUrl", DROP),
        "blob: addons.addon@mozilla.platforms.default: 'fileUrl' is a required property",
    ),
    (changed(GUARDIAN, "product", DROP), "blob: 'product' is a required property"),
    (changed(GUARDIAN, "required", "yes"), "blob: required: 'yes' is not of type 'boolean'"),
    (
        changed(GUARDIAN, "platforms.WINNT_x86_64.size", 1),
        "blob: platforms.WINNT_x86_64: unexpected property 'size'",
    ),
]


@pytest.mark.parametrize(("blob", "message_start"), SCHEMA_ERRORS)
def test_schema_violation_names_its_path(blob: dict[str, Any], message_start: str) -> None:
    assert_invalid(blob, message_start)


def test_several_violations_report_the_top_one_and_count_the_rest() -> None:
    blob = changed(changed(V9, "hashFunction", 1), f"{LOCALE9}.buildID", "x")
    assert_invalid(blob, "blob: hashFunction: 1 is not of type 'string' (and 1 more problem)")


def test_huge_values_are_abbreviated_in_messages() -> None:
    blob = changed(V9, "platforms", ["x" * 10_000] * 100)
    with pytest.raises(Invalid) as caught:
        validate_blob(blob)
    assert len(caught.value.message) < 250


# --------------------------------------------------------------------------- schema_version


@pytest.mark.parametrize(
    ("blob", "message_start"),
    [
        ([V9], "blob: must be a JSON object, not array"),
        ("{}", "blob: must be a JSON object, not string"),
        (None, "blob: must be a JSON object, not null"),
        (changed(V9, "schema_version", DROP), "blob: schema_version: is not set"),
        (changed(V9, "schema_version", 0), "blob: schema_version: is not set"),
        (changed(V9, "schema_version", 7), "blob: schema_version: unknown schema_version 7"),
        (changed(V9, "schema_version", 6000), "blob: schema_version: unknown schema_version"),
        (changed(V9, "schema_version", "9"), "blob: schema_version: unknown schema_version '9'"),
        (changed(V9, "schema_version", 9.5), "blob: schema_version: unknown schema_version"),
        (changed(V9, "schema_version", True), "blob: schema_version: unknown schema_version"),
        (changed(V9, "schema_version", [9]), "blob: schema_version: unknown schema_version"),
        # a known schema_version picks the schema, whose own rules then apply
        (changed(V9, "schema_version", 8), "blob: "),
        (changed(DESUPPORT, "schema_version", 1), "blob: 'hashFunction' is a required property"),
    ],
)
def test_schema_version_chooses_the_schema(blob: object, message_start: str) -> None:
    assert_invalid(blob, message_start)


def test_schema_files_cover_balrogs_blob_types() -> None:
    assert set(SCHEMA_FILES) == {1, 2, 3, 4, 5, 6, 8, 9, 50, 1000, 4000, 5000, 10000}
    for version in SCHEMA_FILES:
        assert schema_for(version)["properties"]["schema_version"] == {"const": version}


def test_schema_for_returns_a_copy_and_refuses_unknown_versions() -> None:
    schema_for(9)["properties"].clear()
    assert "platforms" in schema_for(9)["properties"]
    with pytest.raises(KeyError):
        schema_for(7)


# --------------------------------------------------------------------------- name


def test_name_must_match_the_release_name() -> None:
    assert_invalid(
        V9,
        "name: 'Firefox-61.0-build1' does not match blob.name",
        "name",
        name="Firefox-61.0-build1",
    )


def test_missing_name_is_a_schema_error_even_when_a_name_is_given() -> None:
    assert_invalid(changed(V9, "name", DROP), "blob: 'name' is a required", name=V9["name"])


def test_schema_errors_come_before_the_name_check() -> None:
    assert_invalid(changed(V9, "extra", 1), "blob: unexpected property", name="other")


# --------------------------------------------------------------------------- GMP hashes


@pytest.mark.parametrize(
    ("blob", "message_start"),
    [
        (
            changed(GMP, "vendors.x.platforms.p.hashValue", "abc"),
            "blob: vendors.x.platforms.p.hashValue: must be 64 characters long for sha256, not 3",
        ),
        (changed(GMP, "hashFunction", "sha512"), "blob: vendors.x.platforms.p.hashValue: must be"),
        (changed(GMP, "hashFunction", "md5"), "blob: hashFunction: unsupported hash function"),
        (changed(GMP, "vendors.", "junk"), "blob: vendors.'': malformed data"),
    ],
)
def test_gmp_hash_length_follows_the_hash_function(
    blob: dict[str, Any], message_start: str
) -> None:
    assert_invalid(blob, message_start)


def test_gmp_hash_check_is_case_insensitive() -> None:
    validate_blob(changed(GMP, "hashFunction", "SHA256"))


# --------------------------------------------------------------------------- updateLine


def group(fields: list[str], **conditions: list[str]) -> dict[str, Any]:
    return {"for": conditions, "fields": {f: f"{f}-value" for f in fields}}


def openurl_by(condition: str, first: list[str], second: list[str]) -> list[dict[str, Any]]:
    """Two groups that both set openURL, for the two values of one condition."""
    return [group(["openURL"], **{condition: first}), group(["openURL"], **{condition: second})]


@pytest.mark.parametrize(
    "groups",
    [
        pytest.param([group(["openURL"]), group(["actions"])], id="different-fields"),
        pytest.param([group(["openURL"])] * 2, id="identical-groups"),
        pytest.param(openurl_by("channels", ["release"], ["beta"]), id="disjoint-channels"),
        pytest.param(openurl_by("locales", ["de"], ["fr", "it"]), id="disjoint-locales"),
        pytest.param(openurl_by("versions", ["<60.0"], [">=60.0"]), id="disjoint-versions"),
        pytest.param(openurl_by("buildIDs", ["<2023"], [">=2023"]), id="disjoint-buildIDs"),
        pytest.param(
            [
                group(["openURL"], channels=["release*"], locales=["de"]),
                group(["openURL"], channels=["release"], locales=["fr"]),
            ],
            id="one-disjoint-condition-suffices",
        ),
    ],
)
def test_update_line_groups_that_cannot_clash(groups: list[dict[str, Any]]) -> None:
    validate_blob(changed(V9, "updateLine", groups))


#: Two groups that may match one request, and (after them) conditions that cannot be compared.
OVERLAP = "blob: updateLine: groups 0 and 1"
UNSURE = "blob: updateLine.0.for"


@pytest.mark.parametrize(
    ("groups", "message_start"),
    [
        (
            [group(["openURL"]), group(["openURL", "actions"])],
            f"{OVERLAP} can match the same request and both set: openURL",
        ),
        (openurl_by("channels", ["release*"], ["release"]), OVERLAP),
        (openurl_by("channels", ["release"], ["release-cck-partner"]), OVERLAP),
        (openurl_by("versions", ["<61.0"], [">=60.0"]), OVERLAP),
        (openurl_by("versions", ["60.*"], [">=60.0"]), OVERLAP),
        (openurl_by("buildIDs", ["<=2023"], [">=2023"]), OVERLAP),
        (
            openurl_by("versions", ["60.0"], ["61.0"]),
            f"{UNSURE}.versions: cannot tell whether '60.0' and '61.0'",
        ),
        (
            openurl_by("versions", ["60.*"], ["60.0.1"]),
            f"{UNSURE}.versions: cannot tell whether '60.*' and '60.0.1'",
        ),
        (
            openurl_by("buildIDs", ["2023"], [">2022"]),
            f"{UNSURE}.buildIDs: cannot tell whether '2023' and '>2022'",
        ),
        (
            [group(["openURL"]), {"for": {}}],
            "blob: updateLine.1: 'fields' is required when groups are compared",
        ),
        (
            [{"fields": {"openURL": "a"}}, group(["openURL"], locales=["de"])],
            "blob: updateLine.0: 'for' is required when groups are compared",
        ),
    ],
)
def test_update_line_groups_that_clash(groups: list[dict[str, Any]], message_start: str) -> None:
    assert_invalid(changed(V9, "updateLine", groups), message_start)


# --------------------------------------------------------------------------- download domains

ALLOW = {
    "a.test": ("Firefox",),
    "dl.test": ("Firefox",),
    "archive.test": {"/pub/firefox/.*": ("Firefox",), "/pub/.*": ("Thunderbird",)},
    "cdn.test": ("GMP",),
    "vpn.test": ("FirefoxVPN",),
}


@pytest.mark.parametrize(
    ("blob", "product", "allowlist"),
    [
        pytest.param(V9, "Firefox", ALLOW, id="v9"),
        pytest.param(V1, "Firefox", ALLOW, id="v1-string-fileUrls"),
        pytest.param(GUARDIAN, "FirefoxVPN", ALLOW, id="guardian"),
        pytest.param(DESUPPORT, "Firefox", {}, id="desupport-detailsUrl-exempt"),
        pytest.param(SUPERBLOB, "GMP", {}, id="superblob-has-no-urls"),
        pytest.param(GMP, "GMP", {**ALLOW, "mirror.test": ["GMP"]}, id="gmp-mirrors"),
        pytest.param(V9, "Thunderbird", None, id="no-allowlist-no-check"),
    ],
)
def test_allowlisted_download_domains_pass(
    blob: dict[str, Any], product: str, allowlist: dict[str, Any] | None
) -> None:
    validate_blob(blob, product=product, allowlisted_domains=allowlist)


@pytest.mark.parametrize(
    ("blob", "product", "message_start"),
    [
        (
            V9,
            "Thunderbird",
            (
                "blob: fileUrls.*.completes.*: archive.test/pub/firefox/c.mar is not allowlisted "
                "for product 'Thunderbird'"
            ),
        ),
        (
            changed(V9, "fileUrls.*.completes.*", "https://archive.test/other/c.mar"),
            "Firefox",
            "blob: fileUrls.*.completes.*: path '/other/c.mar' on 'archive.test' is not",
        ),
        (
            changed(V9, f"{LOCALE9}.completes.0.fileUrl", "https://evil.test/c.mar"),
            "Firefox",
            f"blob: {LOCALE9}.completes.0.fileUrl: domain 'evil.test' is not allowlisted",
        ),
        (
            V1,
            "Thunderbird",
            "blob: fileUrls.release: domain 'dl.test' is not allowlisted for product",
        ),
        (GMP, "GMP", "blob: vendors.x.platforms.p.mirrorUrls.0: domain 'mirror.test' is not"),
        (GUARDIAN, "Firefox", "blob: platforms.WINNT_x86_64.fileUrl: domain 'vpn.test' is not"),
        (
            changed(V4, "platforms.q.locales", ["junk"]),
            "Firefox",
            "blob: platforms.q.locales: malformed data where download URLs may be",
        ),
    ],
)
def test_download_domains_outside_the_allowlist_are_refused(
    blob: dict[str, Any], product: str, message_start: str
) -> None:
    assert_invalid(blob, message_start, product=product, allowlisted_domains=ALLOW)


# --------------------------------------------------------------------------- fast path

KEYS = [
    *("alias", "name", "schema_version", "filesize", "from", "hashValue", "buildID", "locales"),
    *("completes", "partials", "for", "fields", "versions", "products", "blobs", "", "x"),
]
JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-2, 2)
    | st.floats(allow_nan=False, width=16)
    | st.sampled_from(["", "*", "123", "abc", "sha512", "60.0", ">=60.0", "60.*", "x" * 101]),
    lambda inner: (
        st.lists(inner, max_size=2) | st.dictionaries(st.sampled_from(KEYS), inner, max_size=2)
    ),
    max_leaves=4,
)
BASES = [r["data"] for r in RELEASES] + list(MINIMAL.values())


def _paths(node: object, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield prefix
    if isinstance(node, dict):
        for key, child in node.items():
            yield from _paths(child, (*prefix, key))
    elif isinstance(node, list):
        for index, child in enumerate(node):
            yield from _paths(child, (*prefix, index))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_fast_path_agrees_with_jsonschema(data: st.DataObject) -> None:
    """The compiled yes/no check must accept exactly what jsonschema accepts."""
    blob = copy.deepcopy(data.draw(st.sampled_from(BASES)))
    for _ in range(data.draw(st.integers(1, 3))):
        path = data.draw(st.sampled_from(list(_paths(blob))))
        parent: Any = blob
        for key in path[:-1]:
            parent = parent[key]
        if path and data.draw(st.booleans()) and isinstance(parent, dict):
            del parent[path[-1]]
        elif path:
            parent[path[-1]] = data.draw(JSON)
        elif isinstance(blob, dict):
            blob[data.draw(st.sampled_from(KEYS))] = data.draw(JSON)
    version = blob.get("schema_version") if isinstance(blob, dict) else None
    assume(type(version) is int and version in SCHEMA_FILES)
    fast = schemas.fast_check(version)(blob)
    assert fast == schemas.validator(version).is_valid(blob)
