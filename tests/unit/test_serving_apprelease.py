"""App release rendering, v1-v9 (cases ported from Balrog's blob tests, plus quirks)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from rulelog.domain.errors import Invalid
from rulelog.domain.serving.blobs.common import Serve, ServingCrash
from rulelog.domain.serving.blobs.render import make_blob
from rulelog.domain.serving.request import Force
from tests.unit.serving_support import REQUEST, header, inner, patch, render

# --- v1: old version special cases -------------------------------------------

V1 = {
    "name": "h",
    "schema_version": 1,
    "appv": "12.0",
    "extv": "12.0",
    "hashFunction": "sha512",
    "detailsUrl": "http://example.org/details",
    "oldVersionSpecialCases": True,
    "platforms": {
        "p": {"buildID": 1, "locales": {"l": {"complete": patch("*", 1, "http://a.com/a")}}}
    },
}


@pytest.mark.parametrize(
    ("version", "expected"),
    [
        ("2.0.0.20", '<update type="minor" version="2.0.0.20" buildID="1"'),
        ("3.0.9", '<update type="minor" version="3.0.9" buildID="1"'),
        ("3.5.19", '<update type="minor" version="12.0" buildID="1"'),
        ("3.6", '<update type="minor" version="12.0" extensionVersion="3.6" buildID="1"'),
        ("4.0", '<update type="minor" version="12.0" extensionVersion="12.0" buildID="1"'),
    ],
)
def test_v1_old_version_special_cases(version: str, expected: str) -> None:
    lines = render(V1, replace(REQUEST, version=version))
    assert lines[2] == "    " + expected + ' detailsURL="http://example.org/details">'
    assert lines[3] == (
        '        <patch type="complete" URL="http://a.com/a" hashFunction="sha512"'
        ' hashValue="2" size="1"/>'
    )
    assert lines[4:] == ["    </update>", "</updates>"]


# --- v2/v3: one URL template per channel -------------------------------------


def source(name: str, build_id: str, schema_version: int = 3) -> dict[str, Any]:
    """A release updated from: all a partial needs of it is its build on ``p``/``l``."""
    return {
        "name": name,
        "schema_version": schema_version,
        "platforms": {"p": {"buildID": build_id, "locales": {"l": {}}}},
    }


J1 = source("j1", "28", schema_version=2)
J2 = {
    "name": "j2",
    "schema_version": 2,
    "hashFunction": "sha512",
    "appVersion": "40.0",
    "displayVersion": "40.0",
    "platformVersion": "40.0",
    "fileUrls": {"release": "http://a.com/%FILENAME%"},
    "ftpFilenames": {"partial": "j1-partial.mar", "complete": "complete.mar"},
    "platforms": {
        "p": {
            "buildID": 30,
            "OS_FTP": "o",
            "OS_BOUNCER": "o",
            "locales": {"l": {"partial": patch("j1", 6), "complete": patch("*", 38)}},
        }
    },
}


_J2_COMPLETE = (
    '<patch type="complete" URL="http://a.com/complete.mar" hashFunction="sha512"'
    ' hashValue="39" size="38"/>'
)
_J2_PARTIAL = (
    '<patch type="partial" URL="http://a.com/j1-partial.mar" hashFunction="sha512"'
    ' hashValue="7" size="6"/>'
)


@pytest.mark.parametrize(
    ("build_id", "expected"), [("4", [_J2_COMPLETE]), ("28", [_J2_COMPLETE, _J2_PARTIAL])]
)
def test_v2_partial_only_when_running_the_from_release(build_id: str, expected: list[str]) -> None:
    request = replace(REQUEST, build_id=build_id)
    assert inner(J2, request, j1=J1) == expected
    assert header(J2, request) == (
        '<update type="minor" displayVersion="40.0" appVersion="40.0" platformVersion="40.0"'
        ' buildID="30">'
    )


def test_v2_optional_attributes_and_is_os_update() -> None:
    blob = {
        **J2,
        "detailsUrl": "http://example.org/details/%locale%",
        "licenseUrl": "http://example.org/license/%LOCALE%",
        "actions": "silent",
        "billboardURL": "http://example.org/billboard/%LOCALE%",
        "openURL": "http://example.org/url/%locale%",
        "showPrompt": False,
        "showNeverForVersion": True,
    }
    blob["platforms"] = {
        "p": {
            **J2["platforms"]["p"],
            "locales": {"l": {"isOSUpdate": True, "complete": patch("*", 5)}},
        }
    }
    assert header(blob) == (
        '<update type="minor" displayVersion="40.0" appVersion="40.0" platformVersion="40.0"'
        ' buildID="30" detailsURL="http://example.org/details/l"'
        ' licenseURL="http://example.org/license/l" isOSUpdate="true"'
        ' billboardURL="http://example.org/billboard/l" showPrompt="false"'
        ' showNeverForVersion="true" actions="silent" openURL="http://example.org/url/l">'
    )


def test_v2_missing_platform_version_prints_none() -> None:
    blob = {k: v for k, v in J2.items() if k != "platformVersion"}
    assert 'platformVersion="None"' in header(blob)


def test_v3_ftp_and_bouncer_tables_are_keyed_by_from() -> None:
    g1 = source("g1", "8")
    g2 = {
        **J2,
        "schema_version": 3,
        "fileUrls": {"release": "http://a.com/%FILENAME%", "beta": "http://a.com/%product%"},
        "ftpFilenames": {"completes": {"*": "complete.mar"}, "partials": {"g1": "g1-partial.mar"}},
        "bouncerProducts": {"completes": {"*": "complete"}, "partials": {"g1": "g1-partial"}},
    }
    g2["platforms"] = {
        "p": {
            **J2["platforms"]["p"],
            "locales": {"l": {"completes": [patch("*", 34)], "partials": [patch("g1", 4)]}},
        }
    }
    request = replace(REQUEST, build_id="8")
    assert [line.split('"')[3] for line in inner(g2, request, g1=g1)] == [
        "http://a.com/complete.mar",
        "http://a.com/g1-partial.mar",
    ]
    beta = replace(request, channel="beta-cck-x")
    assert [line.split('"')[3] for line in inner(g2, beta, g1=g1)] == [
        "http://a.com/complete",
        "http://a.com/g1-partial",
    ]


def test_v3_first_usable_complete_and_partial_win() -> None:
    f1, f2 = source("f1", "5"), source("f2", "6")
    f3 = {
        **J2,
        "schema_version": 3,
        "platforms": {
            "p": {
                "buildID": 29,
                "locales": {
                    "l": {
                        "partials": [
                            patch("f1", 2, "http://a.com/p1"),
                            patch("f2", 4, "http://a.com/p2"),
                        ],
                        "completes": [
                            patch("f2", 29, "http://a.com/c1"),
                            patch("*", 30, "http://a.com/c2"),
                        ],
                    }
                },
            }
        },
    }
    urls = {
        build_id: [
            line.split('"')[3]
            for line in inner(f3, replace(REQUEST, build_id=build_id), f1=f1, f2=f2)
        ]
        for build_id in ("5", "6", "1")
    }
    assert urls == {
        "5": ["http://a.com/c2", "http://a.com/p1"],
        "6": ["http://a.com/c1", "http://a.com/p2"],
        "1": ["http://a.com/c2"],
    }


# --- v4+: fileUrls per channel, fallback channel, then "*" --------------------

H1 = {
    "name": "h1",
    "schema_version": 9,
    "platforms": {"p": {"buildID": "10", "locales": {"l": {}, "de": {}}}},
}
H2 = {
    "name": "h2",
    "schema_version": 9,
    "hashFunction": "sha512",
    "appVersion": "31.0.2",
    "displayVersion": "31.0.2",
    "updateLine": [
        {
            "for": {},
            "fields": {"detailsURL": "http://example.org/details/%LOCALE%", "type": "minor"},
        },
        {
            "for": {
                "locales": ["de"],
                "channels": ["release*"],
                "versions": ["<31.0"],
                "buildIDs": ["<20"],
            },
            "fields": {"actions": "showURL", "openURL": "http://example.org/url/%LOCALE%"},
        },
    ],
    "fileUrls": {
        "c1": {
            "partials": {"h1": "http://a.com/h1-partial.mar"},
            "completes": {"*": "http://a.com/complete.mar"},
        },
        "*": {
            "partials": {"h1": "http://a.com/h1-catchall"},
            "completes": {"*": "http://a.com/complete-catchall"},
        },
    },
    "platforms": {
        "p": {
            "buildID": 50,
            "OS_FTP": "p",
            "OS_BOUNCER": "p",
            "locales": {
                loc: {"partials": [patch("h1", 8)], "completes": [patch("*", 40)]}
                for loc in ("l", "de")
            },
        },
        "q": {"alias": "p"},
    },
}
_ACTIONS = ' actions="showURL"', ' openURL="http://example.org/url/de"'


@pytest.mark.parametrize(
    ("changes", "actions", "urls"),
    [
        ({"locale": "l"}, False, ["complete-catchall", "h1-catchall"]),
        ({"channel": "c1"}, False, ["complete.mar", "h1-partial.mar"]),
        ({"channel": "c1-cck-x"}, False, ["complete.mar", "h1-partial.mar"]),
        ({"version": "31.0"}, False, ["complete-catchall", "h1-catchall"]),
        ({"build_id": "30"}, False, ["complete-catchall"]),
        ({}, True, ["complete-catchall", "h1-catchall"]),
        ({"build_target": "q"}, True, ["complete-catchall", "h1-catchall"]),  # alias
    ],
)
def test_v9_update_line_groups_and_urls(
    changes: dict[str, Any], actions: bool, urls: list[str]
) -> None:
    request = replace(REQUEST, **{"locale": "de", **changes})
    locale = request.locale
    expected = (
        '<update{} appVersion="31.0.2" buildID="50" detailsURL="http://example.org/details/{}"'
        ' displayVersion="31.0.2"{} type="minor">'
    ).format(_ACTIONS[0] if actions else "", locale, _ACTIONS[1] if actions else "")
    assert header(H2, request) == expected
    assert [line.split('"')[3].rsplit("/", 1)[1] for line in inner(H2, request, h1=H1)] == urls


def test_unified_urls_stop_at_the_first_channel_block() -> None:
    blob = {
        **H2,
        "fileUrls": {"release": {"partials": {"h1": "http://a.com/p"}}, "*": H2["fileUrls"]["*"]},
    }
    with pytest.raises(ServingCrash, match="no complete URL"):
        render(blob, replace(REQUEST, locale="de"), h1=H1)


def test_force_is_passed_on_to_special_hosts_only() -> None:
    request = replace(REQUEST, channel="c1", force=Force.FALLBACK)
    assert inner(H2, request, h1=H1)[0].split('"')[3] == "http://a.com/complete.mar?force=-1"
    blob = {**H2, "fileUrls": {"c1": {"completes": {"*": "http://a.com/x?y=1"}}}}
    assert inner(blob, request)[0].split('"')[3] == "http://a.com/x?y=1&amp;force=-1"
    https = {**H2, "fileUrls": {"c1": {"completes": {"*": "https://a.com/x"}}}}
    assert inner(https, request)[0].split('"')[3] == "https://a.com/x"


def test_forbidden_urls_are_never_served() -> None:
    blob = {**H2, "fileUrls": {"*": {"completes": {"*": "http://evil.com/c"}}}}
    assert inner(blob) == []  # the update line stays, without patches


def test_partial_from_release_lacking_the_locale_is_a_crash() -> None:
    h1 = {**H1, "platforms": {"p": {"locales": {"fr": {}}}}}
    with pytest.raises(ServingCrash):
        render(H2, replace(REQUEST, locale="de"), h1=h1)


def test_v8_optional_attributes_and_proofs() -> None:
    blob = {
        **{k: v for k, v in J2.items() if k not in ("fileUrls", "ftpFilenames")},
        "schema_version": 8,
        "promptWaitTime": 3600,
        "binTransMerkleRoot": "root",
        "billboardURL": "ignored since v6",
        "fileUrls": {"*": {"completes": {"*": "http://a.com/c"}}},
    }
    blob["platforms"] = {
        "p": {
            **J2["platforms"]["p"],
            "locales": {"l": {"completes": [patch("*", 5, binTransInclusionProof="x")]}},
        }
    }
    assert header(blob).endswith(' promptWaitTime="3600" binTransMerkleRoot="root">')
    assert "billboardURL" not in header(blob)
    assert inner(blob)[0].endswith(' size="5" binTransInclusionProof="x"/>')


@pytest.mark.parametrize(
    ("changes", "verdict"),
    [
        ({}, Serve.YES),
        ({"version": "40.0", "build_id": "29"}, Serve.YES),  # same version, older build
        ({"version": "40.0", "build_id": "30"}, Serve.NO),
        ({"version": "41.0"}, Serve.NO),
        ({"build_target": "x"}, Serve.NO),
        ({"pin": "39."}, Serve.MAYBE),
        ({"pin": "40."}, Serve.YES),
        ({"api": "json", "locale": None}, Serve.NO),
    ],
)
def test_should_serve(changes: dict[str, Any], verdict: Serve) -> None:
    blob = {**J2, "platforms": {"p": {**J2["platforms"]["p"], "buildID": "30"}}}
    assert make_blob(blob).should_serve(replace(REQUEST, **changes)) is verdict


def test_should_serve_errors_blame_the_request() -> None:
    blob = make_blob(J2)
    with pytest.raises(Invalid, match="No such locale 'xx'"):
        blob.should_serve(replace(REQUEST, version="40.0", locale="xx"))
    with pytest.raises(Invalid, match="Version Pin String 'abc'"):
        blob.should_serve(replace(REQUEST, pin="abc"))
