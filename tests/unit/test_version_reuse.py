"""Blob validation and rule validation parse versions with ``domain.serving.versions``
now; before issue #11 each had its own parser (``blobs/validation.py`` for the
updateLine check and the blob formats, ``catalog/rule_fields.py`` for a rule's
``version`` and ``buildID``). These tests hold the new code to the old one's
answers, recorded in ``tests/data/version_reuse.json`` by running the old
functions (validation.py's ``_version_matches``, ``_versions_overlap``,
``_build_id_matches``, ``_build_ids_overlap``, ``_channels_overlap`` and two
format checks; rule_fields.py's version and buildID checks; both at commit
0e88588) over the corpora below: every version, buildID and channel the checks
could be handed, in each shape they take them.

Each recorded row of a comparison is one left-hand value; its characters are
the answers for each right-hand value in order: ``T`` match/overlap, ``F``
none, ``I`` Balrog cannot compare them (the blob is refused).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from rulelog.domain.catalog.rule_fields import normalize_rule
from rulelog.domain.errors import Invalid
from rulelog.domain.serving.blobs.formats import (
    FormatProblem,
    is_build_id_expression,
    is_version_expression,
)
from rulelog.domain.serving.blobs.update_lines import (
    Incomparable,
    build_id_matches,
    build_ids_overlap,
    channels_overlap,
    version_matches,
    versions_overlap,
)

RECORDED = Path(__file__).resolve().parents[1] / "data" / "version_reuse.json"

#: Plain versions: each grammar (post-modern, modern, ancient), globs, pre-releases,
#: the quirks (letters after the first, Unicode digits, a trailing newline) and junk.
VERSIONS = [
    "60.0", "61.0", "60.0.1", "60.1", "60.*", "60.0.*", "61.*", "5.0", "4.0", "4.0b10",
    "3.6.3plugin1", "3.6.3p1", "3.5", "1.5.0.12", "1.5.0.11", "1.0.0.0", "60.0a1", "60.0a2",
    "60.0b1", "122.0b3", "120.0", "120.1.", "0.0", "0", "", "abc", "60", "60.0.0", "999.999",
    "59.0", "1.*", "*", "60.*.*", "\u0666\u0660.0", "60.0\n", "60.0esr", "2.0.0.20", "10.0.0",
    "60.0.0.1", "4.*", "60.0a", "1.5b2", "59.999", "60.0.999",
]  # fmt: skip
OPERATORS = ("", "<", ">", "<=", ">=", "=")
EXPRESSIONS = [op + v for op in OPERATORS for v in VERSIONS] + [
    "60.0,61.0", "60.0,>=61.0", "<60.0,>61.0", "60.*,61.0", ",", "60.0,", "<", ">=",
    "<=60.0.*", ">60.*", "==60.0",
]  # fmt: skip
#: What a version is matched against: the plain versions and the nearest
#: versions the overlap check derives from a comparison.
QUERIES = [*VERSIONS, "59.998", "60.0.998", "61.1", "60.2", "5.1", "4.0.999", "0.999", "60.0.2"]
BUILD_IDS = [
    "2023", "2022", "2024", "20230101010101", "2018a", "", "<2023", ">2022", "<=2023", ">=2023",
    "=2023", "2023*", "<2023*", "abc", ">abc", "<20230101010101", "0", ">0", "<0", "<=0",
]  # fmt: skip
#: A rule's version and buildID as a client may send them: with spaces, lists,
#: non-ASCII digits (rulelog refuses those, Balrog's ``\\d`` would not).
RULE_VERSIONS = [*EXPRESSIONS, " 60.0 ", "60.0, 61.0", "<=4.0,3.0", "5", "5.0b4", "<= 4.0",
    "99.98.*", "4.*", "+5.0", "5_0.0", " 5.0", "60.0 ", "<60.0x", "<60.0 ,61.0"]  # fmt: skip
RULE_BUILD_IDS = [*BUILD_IDS, " 2023", "2023 ", "<2023 ", "2_023", "\u0662\u0660\u0662\u0663",
    "+2023", "<+2023", "<=", "<2023x", "<=2023\n"]  # fmt: skip
CHANNELS = [
    "release", "release*", "beta", "release-cck-partner", "release-cck-*", "rel*", "r*", "*",
    "re*", "nightly.*", "nightly-x", "a.b*", "axb", "[*", "(x*", "release**", "",
]  # fmt: skip


def _answer(compare: Callable[[str, str], bool], left: str, right: str) -> str:
    try:
        return "T" if compare(left, right) else "F"
    except Incomparable:
        return "I"


def _rows(compare: Callable[[str, str], bool], lefts: list[str], rights: list[str]) -> list[str]:
    return ["".join(_answer(compare, a, b) for b in rights) for a in lefts]


def _lists(overlap: Callable[[list[str], list[str]], bool]) -> Callable[[str, str], bool]:
    return lambda a, b: overlap([a], [b])


def _format(check: Callable[[object], bool], value: str) -> str:
    try:
        check(value)
    except FormatProblem as problem:
        return str(problem)
    return ""


CASES = {
    "version_matches": (version_matches, EXPRESSIONS, QUERIES),
    "versions_overlap": (_lists(versions_overlap), EXPRESSIONS, EXPRESSIONS),
    "build_id_matches": (build_id_matches, BUILD_IDS, BUILD_IDS),
    "build_ids_overlap": (_lists(build_ids_overlap), BUILD_IDS, BUILD_IDS),
    "channels_overlap": (_lists(channels_overlap), CHANNELS, CHANNELS),
}


def _rule_field(field: str, value: str, *, admin_api: bool) -> str:
    """A rule's field as normalized, or the refusal."""
    try:
        rule = normalize_rule({field: value}, partial=True, admin_api=admin_api)
    except Invalid as error:
        return f"refused: {error}"
    return str(rule[field])


@pytest.fixture(scope="module")
def recorded() -> dict[str, list[str]]:
    return json.loads(RECORDED.read_text(encoding="utf-8"))


@pytest.mark.parametrize("name", sorted(CASES))
def test_same_answers_as_the_old_parser(name: str, recorded: dict[str, list[str]]) -> None:
    compare, lefts, rights = CASES[name]
    now = _rows(compare, lefts, rights)
    differ = [
        (a, b, then[k], row[k])
        for a, then, row in zip(lefts, recorded[name], now, strict=True)
        for k, b in enumerate(rights)
        if then[k] != row[k]
    ]
    assert not differ, f"{name}: (left, right, old, new) {differ[:10]}"


@pytest.mark.parametrize(
    ("name", "check", "values"),
    [
        ("version_format", is_version_expression, EXPRESSIONS),
        ("build_id_format", is_build_id_expression, BUILD_IDS),
    ],
)
def test_same_format_problems_as_the_old_parser(
    name: str, check: Callable[[object], bool], values: list[str], recorded: dict[str, list[str]]
) -> None:
    assert [_format(check, v) for v in values] == recorded[name]


@pytest.mark.parametrize("admin_api", [False, True])
@pytest.mark.parametrize(
    ("field", "values"), [("version", RULE_VERSIONS), ("buildID", RULE_BUILD_IDS)]
)
def test_same_rule_fields_as_the_old_parser(
    field: str, values: list[str], admin_api: bool, recorded: dict[str, list[str]]
) -> None:
    name = f"rule_{field}{'_admin_api' if admin_api else ''}"
    assert [_rule_field(field, v, admin_api=admin_api) for v in values] == recorded[name]
