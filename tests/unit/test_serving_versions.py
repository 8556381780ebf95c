"""Balrog's version semantics (tables partly taken from Balrog's own tests)."""

from __future__ import annotations

import re

import pytest

from rulelog.domain.errors import Invalid
from rulelog.domain.serving.versions import (
    IntExpression,
    StringExpression,
    UnusableExpression,
    VersionExpression,
    loose_version,
    moz_version,
    pin_version,
    split_operator,
    version_parser_for,
)
from tests.tables import truth_table


@pytest.mark.parametrize(
    ("text", "numbers", "prerelease", "printed"),
    [
        ("3.6.3plugin1", (3, 6, 3), ("p", 1), "3.6.3p1"),  # any letters up to major 4
        ("1.5.0.12", (1, 5, 12), None, "1.5.12"),  # four parts drop the third
        ("1.5.0.1rc1", (1, 5, 1), ("r", 1), "1.5.1r1"),
        ("1.2.3a1", (1, 2, 3), ("a", 1), "1.2.3a1"),
        ("1.2.0", (1, 2, 0), None, "1.2"),
        ("121.0", (121, 0, 0), None, "121.0"),
        ("123.0a1", (123, 0, 0), ("a", 1), "123.0a1"),
        ("115.6.0", (115, 6, 0), None, "115.6"),
        ("120.0\n", (120, 0, 0), None, "120.0"),  # "$" also matches before a final newline
    ],
)
def test_moz_version_parses(
    text: str, numbers: tuple[int, ...], prerelease: tuple[str, int] | None, printed: str
) -> None:
    version = moz_version(text)
    assert version.version == numbers
    assert version.prerelease == prerelease
    assert str(version) == printed


BAD_VERSIONS = ["abc", "122.0b3", "161", "3.4j", "2g6", "1.13++", "78.*.*", "4.*", "", " 120.0"]


@pytest.mark.parametrize("text", [*BAD_VERSIONS, "1.2.3.4.5"])
def test_moz_version_rejects(text: str) -> None:
    with pytest.raises(Invalid, match=re.escape(f"Version number {text} is invalid.")):
        moz_version(text)


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("1.5.1", "1.5.2b2", -1),
        ("8.02", "8.02", 0),
        ("0.9", "2.2", -1),
        ("1.2.1", "1.2", 1),
        ("1.1", "1.2.2", -1),
        ("1.2", "1.1", 1),
        ("1.2.2", "1.2", 1),
        ("0.4.0", "0.4", 0),
        ("121.0a1", "121.0", -1),  # a prerelease sorts before the release
        ("121.0a2", "121.0a1", 1),
        ("3.6.3plugin1", "3.6.3pre2", -1),  # only the first letter counts
    ],
)
def test_moz_version_ordering(a: str, b: str, expected: int) -> None:
    va, vb = moz_version(a), moz_version(b)
    assert ((va > vb) - (va < vb)) == expected
    assert (va == vb) == (expected == 0)


@pytest.mark.parametrize(
    ("glob", "version", "expected"),
    truth_table(
        {
            # 80.0a1 fails 80.0.*: neither direction of equality holds.
            "80.0.*": (["80.0.0", "80.0.1"], ["800.0.1", "80.0a1"]),
            "80.1.*": (["80.1.90"], ["80.10.0"]),
            "80.*": (["80.1.0", "80.9.89", "80.0a1"], ["89.89.0"]),
        }
    ),
)
def test_glob_versions_match_both_ways(glob: str, version: str, expected: bool) -> None:
    assert VersionExpression(glob).matches(version) is expected


def test_glob_equality_is_asymmetric_as_in_balrog() -> None:
    assert moz_version("80.0.0") == moz_version("80.0.*")
    assert moz_version("80.0.*") != moz_version("80.0.0")
    assert moz_version("70.*") == moz_version("70.0a1")
    assert moz_version("70.0a1") != moz_version("70.*")


@pytest.mark.parametrize(
    ("pin", "release", "exceeded"),
    truth_table(
        {  # pin: (releases exceeding it, releases within it)
            "102.": (["103.0.0"], ["102.0.0", "102.99.99", "102.0a1", "101.99.99"]),
            "102.0.": (["102.1.0"], ["102.0.99"]),
            "102.1.": (["102.2.0"], ["102.1.0a1", "1.5.0.1"]),
        }
    ),
)
def test_pins_compare_by_prefix(pin: str, release: str, exceeded: bool) -> None:
    assert pin_version(pin).is_exceeded_by(moz_version(release)) is exceeded


@pytest.mark.parametrize(("text", "printed"), [("120.", "120."), ("0120.01.", "120.1.")])
def test_pin_prints_normalised(text: str, printed: str) -> None:
    assert str(pin_version(text)) == printed


@pytest.mark.parametrize("text", ["abc", "120", "120.1", "120.1.2.", ".", ""])
def test_bad_pins_are_invalid(text: str) -> None:
    with pytest.raises(Invalid, match="Version Pin String"):
        pin_version(text)


def test_pin_cannot_compare_with_a_glob_release() -> None:
    with pytest.raises(TypeError):
        pin_version("120.").is_exceeded_by(moz_version("121.*"))


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("<120.0", ("<", "120.0")),
        ("<=120.0", ("<=", "120.0")),
        (">=120.0", (">=", "120.0")),
        (">120.0 junk", (">", "120.0")),  # the rest is ignored
        ("120.0", ("=", "120.0")),
        ("121.*", ("*", "121.*")),
        (">=121.*", ("*", ">=121.*")),  # a glob swallows the operator
        ("=120.0", None),  # Balrog cannot use these at all
        ("", None),
        (" 120.0", None),
        ("<", None),
    ],
)
def test_split_operator(pattern: str, expected: tuple[str, str] | None) -> None:
    assert split_operator(pattern) == expected


@pytest.mark.parametrize(
    ("expression", "version", "expected"),
    truth_table(
        {
            "<115.0,115.0.1": (["114.0.2", "115.0.1", "3.6.13"], ["115.0", "115.0.2"]),
            ">=120.0": (["120.0.1"], ["120.0a1"]),
            "<=121.0": (["121.0"], []),
            "120.0.1,121.0.1": (["121.0.1"], []),
            "121.*": (["121.0.1"], ["122.0"]),
        }
    ),
)
def test_version_expressions(expression: str, version: str, expected: bool) -> None:
    assert VersionExpression(expression).matches(version) is expected


def test_version_expression_failures() -> None:
    with pytest.raises(Invalid, match="abc"):  # the query version is parsed first
        VersionExpression("<abc").matches("abc")
    with pytest.raises(Invalid, match="abc"):  # then the rule's operand
        VersionExpression("<abc").matches("120.0")
    with pytest.raises(UnusableExpression):  # no operator Balrog recognises: a 500
        VersionExpression("=120.0").matches("120.0")


@pytest.mark.parametrize(
    ("expression", "build_id", "expected"),
    truth_table(
        {
            # "9" fails: the comparison is of strings, not numbers.
            "<20231116000000": (["20231115235959", "202311"], ["20231116000000", "9"]),
            ">=20231101000000": (["abc"], []),
            "20231201000000": (["20231201000000"], []),
            "2023*": (["2023*"], ["20231201000000"]),  # no globbing for buildIDs
        }
    ),
)
def test_build_id_expressions(expression: str, build_id: str, expected: bool) -> None:
    assert StringExpression(expression).matches(build_id) is expected


@pytest.mark.parametrize(
    ("expression", "memory", "expected"),
    [("<2048", 1024, True), ("<2048", 2048, False), (">=2048", 2048, True), ("4096", 4096, True)],
)
def test_memory_expressions(expression: str, memory: int, expected: bool) -> None:
    assert IntExpression(expression).matches(memory) is expected


@pytest.mark.parametrize("expression", ["abc", "2048*", "=2048"])
def test_memory_expressions_balrog_cannot_evaluate(expression: str) -> None:
    with pytest.raises((ValueError, TypeError)):
        IntExpression(expression).matches(1024)


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [("2.18.0", "2.19.0", -1), ("2.19.0", "2.19.0", 0), ("2.9.10", "2.19.0", -1), ("3", "2.19", 1)],
)
def test_loose_versions(a: str, b: str, expected: int) -> None:
    va, vb = loose_version(a), loose_version(b)
    assert ((va > vb) - (va < vb)) == expected


def test_loose_versions_with_mixed_parts_fail_like_balrog() -> None:
    with pytest.raises(TypeError):
        _ = loose_version("2.a") == loose_version("2.1")
    assert loose_version("2.a") == loose_version("2.a")


def test_vpn_products_use_loose_versions() -> None:
    assert version_parser_for("FirefoxVPN") is loose_version
    assert version_parser_for("Guardian") is loose_version
    assert version_parser_for("Firefox") is moz_version
