"""The evaluation pipeline: throttling, fallbacks, shutoffs, pins, superblobs, failures."""

from __future__ import annotations

import json
from typing import Any

import pytest

from rulelog.domain.errors import Invalid
from rulelog.domain.serving.blobs.render import EMPTY_UPDATES
from rulelog.domain.serving.evaluate import (
    JSON_CONTENT_TYPE,
    SnapshotView,
    evaluate,
    route_not_found,
)
from rulelog.domain.serving.request import RouteNotFound, parse_url

URL = "/update/3/Firefox/{version}/{build}/p/l/{channel}/os/default/default/update.xml{query}"


def release(name: str, version: str, build: str = "50", **extra: Any) -> dict[str, Any]:
    data = {
        "name": name,
        "schema_version": 4,
        "hashFunction": "sha512",
        "appVersion": version,
        "displayVersion": version,
        "platformVersion": version,
        "fileUrls": {"*": {"completes": {"*": f"https://archive.mozilla.org/{name}"}}},
        "platforms": {
            "p": {
                "buildID": build,
                "OS_FTP": "p",
                "OS_BOUNCER": "p",
                "locales": {"l": {"completes": [{"from": "*", "filesize": 1, "hashValue": "h"}]}},
            }
        },
        **extra,
    }
    return {"name": name, "product": "Firefox", "data": data}


RELEASES = [release("New", "121.0"), release("Old", "120.0"), release("Pinned", "120.1.0")]


def view(*rules: dict[str, Any], **extra: Any) -> SnapshotView:
    defaults = {
        "product": "Firefox",
        "priority": 100,
        "backgroundRate": 100,
        "update_type": "minor",
    }
    snapshot = {
        "rules": [{"rule_id": i, **defaults, **r} for i, r in enumerate(rules, start=1)],
        "releases": extra.pop("releases", RELEASES),
        **extra,
    }
    return SnapshotView.from_snapshot(snapshot)


def ask(
    serving: SnapshotView,
    *,
    version: str = "100.0",
    build: str = "1",
    channel: str = "release",
    query: str = "",
    roll: int = 0,
) -> tuple[str | None, str | None]:
    """(served release name or None, Rule-ID)."""
    url = URL.format(version=version, build=build, channel=channel, query=query)
    response = evaluate(parse_url(url), serving, rng=lambda: roll)
    assert response.status == 200 and response.problem is None, response.problem
    served = None
    if "<patch" in response.body:
        served = response.body.split('URL="')[1].split('"')[0].rsplit("/", 1)[1]
    return served, response.rule_id


THROTTLED = {"mapping": "New", "fallbackMapping": "Old", "backgroundRate": 50}


@pytest.mark.parametrize(
    ("rule", "query", "roll", "served"),
    [
        (THROTTLED, "", 49, "New"),  # the dice roll is below the rate: main mapping
        (THROTTLED, "", 50, "Old"),  # at or above: fallback mapping
        (THROTTLED, "?force=1", 99, "New"),
        (THROTTLED, "?force=-1", 0, "Old"),
        (THROTTLED, "?force=2", 50, "Old"),  # unknown force values are ignored
        ({**THROTTLED, "backgroundRate": 0}, "", 0, "Old"),
        ({**THROTTLED, "backgroundRate": 100}, "?force=-1", 0, "New"),
        ({**THROTTLED, "fallbackMapping": None}, "", 50, None),
        ({"mapping": None}, "?force=1", 0, None),
    ],
)
def test_background_rate_and_force(
    rule: dict[str, Any], query: str, roll: int, served: str | None
) -> None:
    assert ask(view(rule), query=query, roll=roll) == (served, "1")


def test_no_rule_means_unknown_headers() -> None:
    response = evaluate(
        parse_url(URL.format(version="1.0", build="1", channel="beta", query="")), view()
    )
    assert (response.body, response.headers) == (
        EMPTY_UPDATES,
        {"Rule-ID": "unknown", "Rule-Data-Version": "unknown"},
    )


@pytest.mark.parametrize(
    ("shutoff", "channel", "served"),
    [
        ("release", "release", (None, "unknown")),
        ("release", "release-cck-acme", (None, "unknown")),  # via the fallback channel
        ("release-cck-acme", "release", ("New", "1")),
    ],
)
def test_emergency_shutoffs(shutoff: str, channel: str, served: tuple[Any, Any]) -> None:
    serving = view(
        {"mapping": "New", "channel": "release"},
        emergency_shutoffs=[{"product": "Firefox", "channel": shutoff}],
    )
    assert ask(serving, channel=channel) == served


PINS = [{"product": "Firefox", "channel": "release", "version": "120.", "mapping": "Pinned"}]


@pytest.mark.parametrize(
    ("query", "channel", "served"),
    [
        ("?pin=120.", "release", "Pinned"),
        ("?pin=120.", "release-cck-x", "Pinned"),  # pins are looked up on the fallback channel
        ("?pin=121.", "release", "New"),  # the pin does not hold the release back
        ("?pin=119.", "release", "New"),  # no pin registered: keep users up to date
        ("?pin=120.1.", "release", "New"),
    ],
)
def test_pins(query: str, channel: str, served: str) -> None:
    assert (
        ask(view({"mapping": "New"}, pinnable_releases=PINS), channel=channel, query=query)[0]
        == served
    )


def test_pinned_release_must_itself_be_servable() -> None:
    serving = view({"mapping": "New"}, pinnable_releases=PINS)
    assert ask(serving, version="120.1.0", build="60", query="?pin=120.") == (None, "1")


def test_balrog_crashes_become_empty_answers_with_a_problem() -> None:
    serving = view({"mapping": "Missing"})
    response = evaluate(
        parse_url(URL.format(version="1.0", build="1", channel="release", query="")), serving
    )
    assert (response.status, response.body) == (200, EMPTY_UPDATES)
    assert "Missing" in (response.problem or "")
    assert response.rule_id == "1"


def test_bad_data_blamed_on_the_request_is_invalid() -> None:
    with pytest.raises(Invalid, match="Version number abc"):
        ask(view({"mapping": "New", "version": "<200.0"}), version="abc")
    with pytest.raises(Invalid, match="Wrong blob type"):
        vpn = {"name": "V", "product": "Firefox", "data": VPN}
        ask(view({"mapping": "V"}, releases=[vpn]), version="1.0")


VPN = {
    "name": "V",
    "schema_version": 10000,
    "hashFunction": "sha512",
    "version": "2.19.0",
    "required": True,
    "platforms": {"p": {"fileUrl": "https://archive.mozilla.org/v", "hashValue": "x"}},
}


@pytest.mark.parametrize(
    ("url", "status", "body"),
    [
        ("/json/1/FirefoxVPN/2.18.0/p/release/update.json", 200, None),
        ("/json/1/FirefoxVPN/2.19.0/p/release/update.json", 404, ""),
        ("/json/2/FirefoxVPN/2.18.0/x/release/os/update.json", 404, ""),
        ("/json/1/FirefoxVPN/2.a/p/release/update.json", 200, "{}"),  # Balrog: 500
    ],
)
def test_json_api(url: str, status: int, body: str | None) -> None:
    serving = view(
        {"product": "FirefoxVPN", "mapping": "V"},
        releases=[{"name": "V", "product": "FirefoxVPN", "data": VPN}],
    )
    response = evaluate(parse_url(url), serving)
    assert response.status == status
    if body is None:
        assert response.content_type == JSON_CONTENT_TYPE
        assert json.loads(response.body)["url"] == "https://archive.mozilla.org/v"
    else:
        assert response.body == body


def _gmp(name: str, vendor: str, url: str) -> dict[str, Any]:
    data = {
        "name": name,
        "schema_version": 1000,
        "hashFunction": "sha512",
        "vendors": {
            vendor: {
                "version": "1",
                "platforms": {"p": {"fileUrl": url, "filesize": 1, "hashValue": "h"}},
            }
        },
    }
    return {"name": name, "product": vendor, "data": data}


def test_superblob_products_are_evaluated_with_their_own_rules() -> None:
    releases = [
        {
            "name": "S",
            "product": "GMP",
            "data": {"name": "S", "schema_version": 4000, "products": ["OpenH264", "Widevine"]},
        },
        _gmp("O", "OpenH264", "https://ciscobinary.openh264.org/o.zip"),
        _gmp("W", "Widevine", "https://redirector.gvt1.com/w.zip"),
    ]
    serving = view(
        {"product": "GMP", "mapping": "S"},
        {"product": "OpenH264", "mapping": "O"},
        {"product": "Widevine", "mapping": "W", "osVersion": "Windows_NT 6.1"},
        releases=releases,
    )
    url = "/update/3/GMP/121.0/1/p/l/release/{os}/default/default/update.xml"
    bodies = {
        os: evaluate(parse_url(url.format(os=os)), serving).body
        for os in ("Linux", "Windows_NT%206.1")
    }
    assert 'id="OpenH264"' in bodies["Linux"] and 'id="Widevine"' not in bodies["Linux"]
    assert 'id="Widevine"' in bodies["Windows_NT%206.1"]


def test_system_addon_superblob_uses_each_release_product() -> None:
    addon = {
        "name": "A",
        "schema_version": 5000,
        "hashFunction": "sha512",
        "addons": {
            "a@x": {
                "version": "1",
                "platforms": {
                    "default": {
                        "fileUrl": "https://ftp.mozilla.org/a",
                        "filesize": 1,
                        "hashValue": "h",
                    }
                },
            }
        },
    }
    releases = [
        {
            "name": "S",
            "product": "SystemAddons",
            "data": {"name": "S", "schema_version": 4000, "blobs": ["A"]},
        },
        {"name": "A", "product": "SystemAddons", "data": addon},
    ]
    serving = view({"product": "SystemAddons", "mapping": "S"}, releases=releases)
    url = "/update/3/SystemAddons/1.0/1/p/l/release/os/default/default/update.xml"
    assert 'URL="https://ftp.mozilla.org/a"' in evaluate(parse_url(url), serving).body


def test_unrouted_update_paths_answer_empty_updates() -> None:
    with pytest.raises(RouteNotFound) as caught:
        parse_url("/update/9/x/update.xml")
    response = route_not_found(caught.value)
    assert (response.status, response.body, response.rule_id) == (200, EMPTY_UPDATES, None)
    with pytest.raises(RouteNotFound) as caught:
        parse_url("/elsewhere")
    assert route_not_found(caught.value).status == 404
