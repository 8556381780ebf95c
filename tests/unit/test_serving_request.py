"""Request parsing: routes, query options and Balrog's client quirks."""

from __future__ import annotations

from typing import Any

import pytest

from rulelog.domain.errors import Invalid
from rulelog.domain.serving.request import Force, RouteNotFound, RouteRedirect, parse, parse_url

V6 = (
    "/update/6/Firefox/120.0/20231116134553/WINNT_x86_64-msvc-x64/en-US/release/"
    "Windows_NT%2010.0.0.0%20(x64)/ISET:SSE4_2,MEM:16384/default/default/update.xml"
)


def v6(caps: str = "ISET:SSE4_2,MEM:16384", locale: str = "en-US", query: str = "") -> str:
    url = V6.replace("ISET:SSE4_2,MEM:16384", caps).replace("/en-US/", f"/{locale}/")
    return url + (f"?{query}" if query else "")


@pytest.mark.parametrize(
    ("url", "fields"),
    [
        (
            "/update/1/Firefox/120.0/2023/Linux_x86_64-gcc3/de/beta/update.xml",
            {"query_version": 1, "os_version": "", "dist_version": None, "distribution": ""},
        ),
        (
            "/update/2/Firefox/120.0/2023/Linux_x86_64-gcc3/de/beta/Linux%206.5/update.xml",
            {"query_version": 2, "os_version": "Linux 6.5", "dist_version": None},
        ),
        (
            "/update/3/Firefox/120.0/2023/Linux_x86_64-gcc3/de/beta/Linux/acme/2.0/update.xml",
            {"distribution": "acme", "dist_version": "2.0", "instruction_set": ""},
        ),
        (
            "/update/4/Firefox/120.0/2023/Linux_x86_64-gcc3/de/beta/Linux/d/v/120.0/update.xml",
            {"query_version": 4, "platform_version": "120.0"},
        ),
        (
            "/update/5/Firefox/120.0/2023/Linux_x86_64-gcc3/de/beta/Linux/d/v/imei-1/update.xml",
            {"query_version": 5, "imei": "imei-1"},
        ),
        (
            "/update/3/Firefox/115.5.0esrpre/2023/WINNT_x86-msvc/de/esr/Win/d/v/update.xml",
            {"version": "115.5.0"},
        ),
        (
            "/update/3/Firefox/esrpre/2023/WINNT_x86-msvc/de/esr/Win/d/v/update.xml",
            {"version": "esrpre"},
        ),
        (
            "/json/1/FirefoxVPN/2.18.0/WINNT_x86_64/release/update.json",
            {"api": "json", "build_id": None, "locale": None, "header_architecture": None},
        ),
        (
            "/json/2/FirefoxVPN/2.18.0/Darwin_x86_64/release/Darwin%2023/update.json",
            {"api": "json", "query_version": 2, "os_version": "Darwin 23"},
        ),
    ],
)
def test_routes(url: str, fields: dict[str, Any]) -> None:
    request = parse_url(url)
    for name, value in fields.items():
        assert getattr(request, name) == value, name


@pytest.mark.parametrize(
    ("caps", "iset", "memory", "jaws"),
    [
        ("SSE3", "SSE3", None, None),
        ("SSE3,8095", "SSE3", 8095, None),
        ("SSE3,x", "SSE3", None, None),
        ("a,b,c", None, None, None),
        ("ISET:SSE2,MEM:6321", "SSE2", 6321, None),
        ("ISET:SSE2,MEM:6321,JAWS:1", "SSE2", 6321, True),
        ("ISET:SSE2,MEM:6321,JAWS:0", "SSE2", 6321, False),
        ("ISET:SSE2,MEM:-nan(ind)", "SSE2", None, None),
        ("ISET:SSE2,MEM:8.1023", "SSE2", None, None),
        ("ISET:SSE3,MEM:6721,PROC:Intel", "SSE3", 6721, None),
        ("ISET:SSE4_2,MEM:32768,(select%2Afrom(select(sleep(20)))a)", "SSE4_2", 32768, None),
        ("ISET:SSE3,MEM:16268,JAWS:0%27%22%60", "SSE3", 16268, None),
        ("NA", "NA", None, None),
    ],
)
def test_system_capabilities(caps: str, iset: str | None, memory: int | None, jaws: Any) -> None:
    request = parse_url(v6(caps))
    assert (request.instruction_set, request.memory, request.jaws) == (iset, memory, jaws)


@pytest.mark.parametrize(
    ("query", "force", "mig64", "pin"),
    [
        ("", None, None, None),
        ("force=1", Force.MAIN, None, None),
        ("force=-1", Force.FALLBACK, None, None),
        ("force=2", None, None, None),
        ("force=1&force=-1", Force.FALLBACK, None, None),  # the last value wins
        ("force=1?avast=1", Force.MAIN, None, None),
        ("force=1%3Favast=1", Force.MAIN, None, None),
        ("force=avast?mig64=1", None, False, None),
        ("mig64=1", None, True, None),
        ("mig64=0", None, False, None),
        ("mig64=yes", None, False, None),
        ("mig64=", None, False, None),
        ("pin=120.", None, None, "120."),
        ("pin=abc", None, None, "abc"),  # validated only if an update would be pinned
        ("avast=1", None, None, None),
    ],
)
def test_query_options(query: str, force: Force | None, mig64: bool | None, pin: Any) -> None:
    request = parse_url(v6(query=query))
    assert (request.force, request.mig64, request.pin) == (force, mig64, pin)
    assert request.defect is None


@pytest.mark.parametrize(
    ("url", "message"),
    [
        (v6(query="foo=bar"), "Extra query parameter(s) foo not in spec"),
        (v6(query="pin="), "pin"),
        (V6.replace("/update/6/", "/update/2/").split("/ISET")[0] + "/update.xml?pin=1.", "pin"),
        ("/json/1/FirefoxVPN/2.18.0/WINNT_x86_64/release/update.json?mig64=1", "mig64"),
    ],
)
def test_invalid_queries(url: str, message: str) -> None:
    with pytest.raises(Invalid, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_url(url)


def test_avast_overwriting_a_read_field_is_a_defect() -> None:
    assert parse_url(v6(query="force=avast?locale=5")).defect


@pytest.mark.parametrize(
    ("locale", "expected"),
    [("x86%20en-US", "en-US"), ("en-US%C3%A9", "en-US?"), ("en%ZZ", "en%ZZ"), ("de", "de")],
)
def test_locale_quirks(locale: str, expected: str) -> None:
    assert parse_url(v6(locale=locale)).locale == expected


def test_system_capabilities_keep_unicode() -> None:
    assert parse_url(v6("ISET:SS%C3%89,MEM:1")).instruction_set == "SSÉ"


@pytest.mark.parametrize(
    ("user_agent", "target", "expected"),
    [
        ("Mozilla/5.0 (Macintosh; PPC Mac OS X 10.5)", "Darwin_ppc-gcc3", "PPC"),
        ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10.15)", "Darwin_x86_64-gcc3", "Intel"),
        ("Mozilla/5.0 (Macintosh; PPC Mac OS X 10.5)", "WINNT_x86-msvc", "Intel"),
        (None, "Darwin_ppc-gcc3", "Intel"),
    ],
)
def test_header_architecture(user_agent: str | None, target: str, expected: str) -> None:
    headers = {"user-agent": user_agent} if user_agent else {}
    request = parse_url(V6.replace("WINNT_x86_64-msvc-x64", target), headers)
    assert request.header_architecture == expected


@pytest.mark.parametrize(
    "path",
    [
        "/update/7/Firefox/120.0/1/p/l/c/a/b/c/d/update.xml",
        "/update/6/Firefox/120.0/1/p/l/c/update.xml",
        "/update/6/" + "a/" * 10 + "update.xml/",
        "/updates",
        "/json/3/a/b/c/d/update.json",
        "/nothing/here",
        "/__heartbeat__",
    ],
)
def test_unrouted_paths(path: str) -> None:
    with pytest.raises(RouteNotFound) as caught:
        parse(path)
    assert caught.value.update_path == path.startswith("/update")


def test_repeated_slashes_redirect_when_the_merged_path_routes() -> None:
    path = "/update/1/Firefox/120.0/2023/Linux_x86_64-gcc3//de/beta/update.xml"
    with pytest.raises(RouteRedirect) as caught:
        parse(path, "force=1")
    assert caught.value.location == path.replace("//", "/") + "?force=1"
    with pytest.raises(RouteNotFound):
        parse("/update/1/Firefox//2023/Linux_x86_64-gcc3/de/beta/update.xml")


def test_query_version_is_read_greedily_from_the_url() -> None:
    # Balrog takes the last "/update/N/" in the URL: /update/1 forces an empty osVersion.
    request = parse_url(v6(query="avast=/update/1/x.xml"))
    assert request.query_version == 1
    assert request.os_version == ""
