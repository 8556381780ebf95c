"""Desupport, GMP, system add-on, super and Guardian blobs; the URL allowlist."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from rulelog.domain.errors import Invalid
from rulelog.domain.serving.blobs.common import (
    PRODUCTION_ALLOWLIST,
    RenderContext,
    Serve,
    ServingCrash,
    is_forbidden_url,
)
from rulelog.domain.serving.blobs.render import make_blob
from tests.unit.serving_support import REQUEST, SETTINGS, render

# --- other blob types ----------------------------------------------------------


def test_desupport() -> None:
    blob = {
        "name": "d",
        "schema_version": 50,
        "detailsUrl": "http://x.org/%LOCALE%/?v=%VERSION%&os=%os%",
        "displayVersion": "Firefox 115 ESR",
    }
    assert render(blob, replace(REQUEST, build_target="WINNT_x86-msvc")) == [
        '<?xml version="1.0"?>',
        "<updates>",
        "",
        '    <update type="minor" unsupported="true" detailsURL="http://x.org/l/?v=30.0&amp;os=WINNT"'
        ' displayVersion="Firefox 115 ESR">',
        "</update>",
        "</updates>",
    ]


GMP = {
    "name": "gmp",
    "schema_version": 1000,
    "hashFunction": "sha512",
    "vendors": {
        "c": {
            "version": "1",
            "platforms": {"p": {"fileUrl": "http://a.com/c", "filesize": 2, "hashValue": "3"}},
        },
        "b": {
            "version": "2",
            "platforms": {
                "default": {
                    "fileUrl": "http://a.com/b",
                    "mirrorUrls": ["http://evil.com/m", "http://a.com/m"],
                    "filesize": 4,
                    "hashValue": "5",
                }
            },
        },
        "a": {
            "version": "3",
            "platforms": {"p": {"fileUrl": "http://evil.com/a", "filesize": 1, "hashValue": "1"}},
        },
        "z": {"version": "9", "platforms": {"q": {"alias": "r"}}},
    },
}


def test_gmp_vendors_sorted_mirrors_filtered() -> None:
    assert render(GMP) == [
        '<?xml version="1.0"?>',
        "<updates>",
        "    <addons>",
        '        <addon id="b" URL="http://a.com/b"'
        ' hashFunction="sha512" hashValue="5" size="4" version="2">',
        '            <mirror URL="http://a.com/m"/>',
        "        </addon>",
        '        <addon id="c" URL="http://a.com/c"'
        ' hashFunction="sha512" hashValue="3" size="2" version="1"/>',
        "    </addons>",
        "</updates>",
    ]


def test_gmp_dangling_alias_is_bad_data() -> None:
    with pytest.raises(Invalid, match="No platform"):
        render(GMP, replace(REQUEST, build_target="q"))


def _addons(uninstall: bool | None, url: str) -> dict[str, Any]:
    blob: dict[str, Any] = {
        "name": "sa",
        "schema_version": 5000,
        "hashFunction": "sha512",
        "addons": {
            "x": {
                "version": "1",
                "platforms": {"default": {"fileUrl": url, "filesize": 1, "hashValue": "2"}},
            }
        },
    }
    if uninstall is not None:
        blob["uninstall"] = uninstall
    return blob


@pytest.mark.parametrize(
    ("uninstall", "url", "expected"),
    [
        (
            None,
            "http://a.com/x",
            [
                "    <addons>",
                '        <addon id="x" URL="http://a.com/x"'
                ' hashFunction="sha512" hashValue="2" size="1" version="1"/>',
                "    </addons>",
            ],
        ),
        (None, "http://evil.com/x", ["", ""]),
        (True, "http://evil.com/x", ["    <addons>", "    </addons>"]),
    ],
)
def test_system_addons(uninstall: bool | None, url: str, expected: list[str]) -> None:
    assert render(_addons(uninstall, url))[2:-1] == expected


def test_superblob_only_wraps() -> None:
    blob = make_blob({"name": "s", "schema_version": 4000, "products": ["A", "B"]})
    assert blob.should_serve(REQUEST) is Serve.YES
    assert blob.response_products() == ["A", "B"]
    with pytest.raises(ServingCrash):
        blob.inner_xml(REQUEST, "minor", RenderContext(SETTINGS, lambda name: None))


VPN = {
    "name": "vpn",
    "schema_version": 10000,
    "hashFunction": "sha512",
    "version": "2.19.0",
    "required": False,
    "platforms": {
        "w": {"fileUrl": "http://a.com/vpn", "hashValue": "h"},
        "m": {"fileUrl": "http://evil.com/v"},
    },
}


@pytest.mark.parametrize(
    ("version", "target", "verdict", "payload"),
    [
        (
            "2.18.0",
            "w",
            Serve.YES,
            {
                "version": "2.19.0",
                "url": "http://a.com/vpn",
                "required": False,
                "hashFunction": "sha512",
                "hashValue": "h",
            },
        ),
        ("2.19.0", "w", Serve.NO, None),
        ("2.18.0", "x", Serve.NO, None),
        ("2.18.0", "m", Serve.YES, {}),
    ],
)
def test_guardian(
    version: str, target: str, verdict: Serve, payload: dict[str, Any] | None
) -> None:
    request = replace(REQUEST, api="json", version=version, build_target=target, locale=None)
    blob = make_blob(VPN)
    assert blob.should_serve(request) is verdict
    if payload is not None:
        assert blob.json_response(request, RenderContext(SETTINGS, lambda name: None)) == payload


@pytest.mark.parametrize("data", [{}, {"schema_version": 7}, {"schema_version": 0}])
def test_unknown_schemas_cannot_be_served(data: dict[str, Any]) -> None:
    with pytest.raises(ServingCrash):
        make_blob(data)


@pytest.mark.parametrize(
    ("url", "product", "forbidden"),
    [
        ("http://download.mozilla.org/?x", "Firefox", False),
        ("http://download.mozilla.org:80/?x", "Firefox", True),  # the port is part of the host
        ("https://archive.mozilla.org/x", "FirefoxVPN", False),
        ("https://archive.mozilla.org/x", "OpenH264", True),
        (
            "https://www.google.com/dl/release2/chrome_component/ab1/4.10_win64.crx3",
            "Widevine",
            False,
        ),
        (
            "https://www.google.com/dl/release2/chrome_component/ab1/4.10_win64.zip",
            "Widevine",
            True,
        ),
        (
            "https://www.google.com/dl/release2/chrome_component/ab1/4.10_win64.crx3",
            "Firefox",
            True,
        ),
        ("http://evil.com/x", "Firefox", True),
    ],
)
def test_production_allowlist(url: str, product: str, forbidden: bool) -> None:
    assert is_forbidden_url(url, product, PRODUCTION_ALLOWLIST) is forbidden


def test_no_allowlist_forbids_everything() -> None:
    assert is_forbidden_url("http://download.mozilla.org/", "Firefox", None)
