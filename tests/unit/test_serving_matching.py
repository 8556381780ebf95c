"""Each rule matcher's truth table, and rule selection (Balrog semantics)."""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

import pytest

from rulelog.domain.errors import Invalid
from rulelog.domain.serving.matching import (
    ChannelPattern,
    RuleIndex,
    channel_matches,
    compile_rule,
    matching_rules,
    os_version_matches,
    select_rule,
)
from rulelog.domain.serving.request import UpdateRequest, parse_url
from rulelog.domain.serving.versions import UnusableExpression
from tests.samples import FIREFOX_120_URL
from tests.tables import truth_table

#: Firefox 120 on 64-bit Windows 11, as its updater asks, but without ``force``.
BASE = replace(parse_url(FIREFOX_120_URL.format(locale="en-US", channel="release")), force=None)


def matches(rule: dict[str, Any], request: UpdateRequest = BASE) -> bool:
    return bool(matching_rules(request, [compile_rule({"rule_id": 1, **rule})]))


@pytest.mark.parametrize(
    ("pattern", "channel", "expected"),
    truth_table(
        {  # pattern: (channels it matches, channels it does not)
            # release-cck-acme matches release via the fallback channel.
            "release": (["release", "release-cck-acme"], ["releasetest"]),
            "release*": (["releasetest", "release"], ["beta"]),
            "rel*": (["release-cck-x"], []),
            "re*": (["release"], []),
            "r*": ([], ["r"]),  # globs need at least 3 characters
            "*": ([], ["release"]),
            "r.l*": (["r.l"], ["rel"]),  # "." is literal...
            "rel+*": (["relll"], []),  # ...other regex characters are not
            "beta-cck-acme": (["beta-cck-acme"], ["beta"]),
            "beta": (["beta-cck-acme"], []),
            "a*b*": (["a*bc"], ["axbc"]),  # only the last "*" is a wildcard
            None: (["anything"], []),
        }
    ),
)
def test_channel(pattern: str | None, channel: str, expected: bool) -> None:
    assert channel_matches(pattern, channel) is expected
    assert matches({"channel": pattern}, replace(BASE, channel=channel)) is expected


def test_broken_channel_glob_fails_when_tried() -> None:
    pattern = ChannelPattern("rel(*")
    with pytest.raises(re.error):
        pattern.matches("release")


@pytest.mark.parametrize(
    ("expression", "os_version", "expected"),
    [
        ("Windows_NT 6.1,Windows_NT 6.2", "Windows_NT 6.1.1.0 (x64)", True),
        ("Windows_NT 6.1,Windows_NT 6.2", "Windows_NT 6.3.9600.0", False),
        ("Windows_NT&&(x64)", "Windows_NT 10.0 (x64)", True),
        ("Windows_NT && (x64)", "Windows_NT 10.0", False),  # parts are stripped
        ("Darwin,", "Windows_NT 10.0", True),  # an empty part matches anything
        ("(x64)", "", False),
        (None, "", True),
    ],
)
def test_os_version(expression: str | None, os_version: str, expected: bool) -> None:
    assert matches({"osVersion": expression}, replace(BASE, os_version=os_version)) is expected
    compiled = compile_rule({"osVersion": expression}).os_version
    assert os_version_matches(compiled, os_version) is expected


@pytest.mark.parametrize(
    ("column", "field", "rule_value", "query_value", "expected"),
    [
        ("locale", "locale", "de,fr", "fr", True),
        ("locale", "locale", "de,fr", "en-US", False),
        ("locale", "locale", "de, fr", "fr", False),  # no stripping
        ("instructionSet", "instruction_set", "SSE,MMX", "SSE", True),
        ("instructionSet", "instruction_set", "SSE,MMX", "SSE2", False),  # exact, no substring
        ("instructionSet", "instruction_set", "SSE", None, False),  # unparseable caps
        ("instructionSet", "instruction_set", "", "", True),
        ("distribution", "distribution", "acme,contoso", "contoso", True),
        ("distribution", "distribution", "acme,contoso", "Contoso", False),  # case-sensitive
        ("distribution", "distribution", "acme", "acme-foo", False),
    ],
)
def test_exact_lists(
    column: str, field: str, rule_value: str, query_value: Any, expected: bool
) -> None:
    request = replace(BASE, **{field: query_value})
    assert matches({column: rule_value}, request) is expected


@pytest.mark.parametrize(
    ("rule_value", "query_value", "expected"),
    [
        (False, False, True),
        (False, True, False),
        (False, None, False),
        (True, False, False),
        (True, True, True),
        (True, None, False),
        (None, False, True),
        (None, True, True),
        (None, None, True),
    ],
)
@pytest.mark.parametrize(("column", "field"), [("mig64", "mig64"), ("jaws", "jaws")])
def test_boolean_truth_table(
    column: str, field: str, rule_value: bool | None, query_value: bool | None, expected: bool
) -> None:
    assert matches({column: rule_value}, replace(BASE, **{field: query_value})) is expected


@pytest.mark.parametrize(
    ("rule_value", "memory", "expected"),
    [("<2048", 1024, True), ("<2048", 2048, False), ("<2048", None, True), (">4096", 8192, True)],
)
def test_memory(rule_value: str, memory: int | None, expected: bool) -> None:
    assert matches({"memory": rule_value}, replace(BASE, memory=memory)) is expected


@pytest.mark.parametrize(
    ("column", "field", "rule_value", "query_value", "expected"),
    [
        ("product", "product", "Firefox", "Firefox", True),
        ("product", "product", "Thunderbird", "Firefox", False),
        ("buildTarget", "build_target", "WINNT_x86-msvc", "WINNT_x86_64-msvc-x64", False),
        ("headerArchitecture", "header_architecture", "PPC", "PPC", True),
        ("headerArchitecture", "header_architecture", "Intel", None, False),  # JSON requests
        ("distVersion", "dist_version", "2.0", "2.0", True),
        ("distVersion", "dist_version", "2.0", None, False),  # /update/1 and /update/2
        ("version", "version", "<120.0", "119.0", True),
        ("version", "version", "121.*", "121.0.1", True),
        ("buildID", "build_id", "<20231116000000", "9", False),
        ("buildID", "build_id", "<20231116000000", None, True),  # JSON requests: ""
    ],
)
def test_simple_columns(
    column: str, field: str, rule_value: str, query_value: Any, expected: bool
) -> None:
    assert matches({column: rule_value}, replace(BASE, **{field: query_value})) is expected


def test_vpn_versions_compare_loosely() -> None:
    request = replace(BASE, product="FirefoxVPN", version="2.9.10")
    assert matches({"version": "<2.18.0"}, request)


def test_rule_failures_happen_in_balrog_order() -> None:
    # The channel is checked before the version, so a foreign channel never fails.
    assert not matches({"channel": "beta", "version": "=120.0"})
    with pytest.raises(UnusableExpression):
        matches({"channel": "release", "version": "=120.0"})
    with pytest.raises(Invalid, match="Version number abc"):
        matches({"version": "<120.0"}, replace(BASE, version="abc"))


def test_rules_of_one_expression_text_share_its_parse_and_its_failure() -> None:
    texts = {"channel": "rel(*", "version": "=120.0", "osVersion": "Windows_NT", "locale": "de"}
    first, second = compile_rule({"rule_id": 1, **texts}), compile_rule({"rule_id": 2, **texts})
    for field in ("channel", "version", "os_version", "locale"):
        assert getattr(first, field) is getattr(second, field)
    other = compile_rule({"rule_id": 3, "version": "<120.0", "locale": "de,fr"})
    assert other.version is not first.version and other.locale == frozenset({"de", "fr"})
    assert compile_rule({"rule_id": 4}).version is None
    for rule in (first, second):  # a shared parse still fails where each rule is tried
        with pytest.raises(re.error):
            rule.matches(BASE, lambda v: v)


def _rules(*specs: tuple[int, int]) -> list[dict[str, Any]]:
    return [{"rule_id": rid, "priority": prio, "product": "Firefox"} for rid, prio in specs]


@pytest.mark.parametrize(
    ("specs", "winner"),
    [
        ([(1, 90), (2, 100)], 2),
        ([(5, 100), (2, 100), (9, 100)], 2),  # ties: lowest rule_id
        ([(3, 100), (4, 110), (1, 110)], 1),
    ],
)
def test_highest_priority_then_lowest_rule_id(specs: list[tuple[int, int]], winner: int) -> None:
    index = RuleIndex(_rules(*specs))
    chosen = select_rule(matching_rules(BASE, index.candidates("Firefox")))
    assert chosen is not None and chosen.rule_id == winner


def test_index_merges_productless_rules_in_rule_id_order() -> None:
    index = RuleIndex(
        [
            {"rule_id": 3, "product": "Firefox"},
            {"rule_id": 1, "product": None},
            {"rule_id": 2, "product": "Thunderbird"},
        ]
    )
    assert [r.rule_id for r in index.candidates("Firefox")] == [1, 3]
    assert [r.rule_id for r in index.candidates("GMP")] == [1]


def test_no_match_selects_nothing() -> None:
    assert select_rule([]) is None


def test_revised_index_compiles_only_new_rows_and_matches_a_fresh_one() -> None:
    rows = [
        {"rule_id": 3, "product": "Firefox", "channel": "release*"},
        {"rule_id": 1, "product": None, "channel": "beta"},
        {"rule_id": 2, "product": "Thunderbird"},
    ]
    before = RuleIndex(rows)
    edited = {**rows[0], "channel": "beta", "comment": "moved"}
    now = [edited, rows[1], {"rule_id": 4, "product": "Firefox"}]  # rule 2 deleted, 4 new
    revised = RuleIndex.revised(before, now)
    fresh = RuleIndex(now)
    for product in ("Firefox", "Thunderbird", "GMP"):
        got = revised.candidates(product)
        assert [(r.rule_id, r.rule) for r in got] == [
            (r.rule_id, r.rule) for r in fresh.candidates(product)
        ]
        shape = (product, "beta", "WINNT_x86_64-msvc")
        assert [r.rule_id for r in revised.narrowed(*shape)] == [
            r.rule_id for r in fresh.narrowed(*shape)
        ]
    kept = next(r for r in revised.candidates("Firefox") if r.rule_id == 1)
    assert kept is next(r for r in before.candidates("Firefox") if r.rule_id == 1)
    moved = next(r for r in revised.candidates("Firefox") if r.rule_id == 3)
    assert moved.rule is edited and moved.channel is not None and moved.channel.source == "beta"
    assert revised.count == 3


def test_revised_index_recompiles_an_equal_row_that_is_another_object() -> None:
    row = {"rule_id": 1, "product": "Firefox"}
    before = RuleIndex([row])
    copy = dict(row)
    (compiled,) = RuleIndex.revised(before, [copy]).candidates("Firefox")
    assert compiled.rule is copy
