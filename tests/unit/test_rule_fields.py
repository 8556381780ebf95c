"""Tests of ``domain.rule_fields``: every Balrog rule check passes and fails once.

The cases come from Balrog's own schema, validators and admin API tests
(``tests/admin/views/test_rules.py`` in ``mozilla-releng/balrog``), so a
failure here means rulelog and Balrog disagree about what a rule may be.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rulelog.domain.catalog.releases import check_release_identity
from rulelog.domain.catalog.rule_fields import (
    RULE_COLUMNS,
    RULE_FIELDS,
    normalize_rule,
    validate_alias,
)
from rulelog.domain.catalog.shutoff_pin_fields import normalize_shutoff
from rulelog.domain.errors import Invalid

FIXTURE = Path(__file__).resolve().parents[1] / "data" / "fixture.json"

#: The least a whole rule needs.
MINIMAL = {"priority": 10, "backgroundRate": 100, "update_type": "minor"}

OPERATORS = ("<", "<=", ">", ">=")


def test_rule_fields_are_balrogs_columns_in_order() -> None:
    assert RULE_FIELDS == (
        "rule_id", "alias", "priority", "mapping", "fallbackMapping", "backgroundRate",
        "update_type", "product", "version", "channel", "buildTarget", "buildID", "locale",
        "osVersion", "memory", "instructionSet", "jaws", "mig64", "distribution",
        "distVersion", "headerArchitecture", "comment",
    )  # fmt: skip
    assert RULE_FIELDS[1:] == RULE_COLUMNS


# ---------------------------------------------------------------- one field

#: From Balrog's testVersionMaxFieldLength.
LONG_VERSION_LIST = "3.3,3.4,3.5,3.6,3.8,3.9,3.10,3.11,3.12,3.13,3.14,3.15"

VALID: list[tuple[str, Any, Any]] = [
    # priority: integer >= 0, int strings accepted and converted
    ("priority", 0, 0),
    ("priority", 33, 33),
    ("priority", "7", 7),
    ("priority", " 12 ", 12),
    ("priority", 10**9, 10**9),
    # backgroundRate: integer 0..100
    ("backgroundRate", 0, 0),
    ("backgroundRate", 100, 100),
    ("backgroundRate", "50", 50),
    # update_type: enum
    ("update_type", "minor", "minor"),
    ("update_type", "major", "major"),
    # alias: pattern, maxLength 50, empty means none
    ("alias", "firefox-release", "firefox-release"),
    ("alias", "A1-b", "A1-b"),
    ("alias", "a" * 50, "a" * 50),
    ("alias", "", None),
    ("alias", None, None),
    # mapping / fallbackMapping: ascii, maxLength 100, stripped
    ("mapping", "Firefox-121.0-build1", "Firefox-121.0-build1"),
    ("mapping", " No-Update ", "No-Update"),
    ("mapping", "m" * 100, "m" * 100),
    ("mapping", None, None),
    ("mapping", "", None),
    ("fallbackMapping", "Firefox-120.0-build1", "Firefox-120.0-build1"),
    ("fallbackMapping", "f" * 100, "f" * 100),
    # product: ascii, maxLength 15, nullable
    ("product", "Firefox", "Firefox"),
    ("product", "p" * 15, "p" * 15),
    ("product", None, None),
    ("product", "   ", None),
    # version: see also the dedicated tables below
    ("version", "36.0", "36.0"),
    ("version", "", None),
    ("version", LONG_VERSION_LIST, LONG_VERSION_LIST),
    # channel: ascii, maxLength 75, no glob checks in Balrog
    ("channel", "release", "release"),
    ("channel", "release*", "release*"),
    ("channel", "c" * 75, "c" * 75),
    # buildTarget: ascii, maxLength 75
    ("buildTarget", "WINNT_x86-msvc", "WINNT_x86-msvc"),
    ("buildTarget", "b" * 75, "b" * 75),
    # buildID: see also the dedicated tables below
    ("buildID", "20231201000000", "20231201000000"),
    ("buildID", "", None),
    # locale: ascii, maxLength 200, all whitespace removed
    ("locale", "de, en-US, hu, it, zh-TW", "de,en-US,hu,it,zh-TW"),
    ("locale", "l" * 200, "l" * 200),
    # osVersion: ascii, maxLength 1000, inner spaces kept
    ("osVersion", "Windows_NT 6.1", "Windows_NT 6.1"),
    ("osVersion", "o" * 1000, "o" * 1000),
    # memory: ascii, maxLength 100; Balrog checks nothing else
    ("memory", "<2048", "<2048"),
    ("memory", "8000", "8000"),
    ("memory", "m" * 100, "m" * 100),
    # instructionSet: ascii, maxLength 1000
    ("instructionSet", "SSE,MMX", "SSE,MMX"),
    ("instructionSet", "i" * 1000, "i" * 1000),
    # jaws / mig64: booleans or null
    ("jaws", True, True),
    ("jaws", False, False),
    ("jaws", None, None),
    ("mig64", True, True),
    ("mig64", False, False),
    ("mig64", None, None),
    # distribution: ascii, maxLength 2000, all whitespace removed
    (
        "distribution",
        "  mozilla1, mozilla2, mozilla3,mozilla4 ",
        "mozilla1,mozilla2,mozilla3,mozilla4",
    ),
    ("distribution", "d" * 2000, "d" * 2000),
    # distVersion: ascii, maxLength 100
    ("distVersion", "2.0", "2.0"),
    ("distVersion", "d" * 100, "d" * 100),
    # headerArchitecture: ascii, maxLength 10
    ("headerArchitecture", "PPC", "PPC"),
    ("headerArchitecture", "h" * 10, "h" * 10),
    # comment: ascii, maxLength 500
    ("comment", "main release rule, 50% throttle", "main release rule, 50% throttle"),
    ("comment", "c" * 500, "c" * 500),
]


@pytest.mark.parametrize(("field", "value", "expected"), VALID)
def test_valid_value_is_accepted_and_normalized(field: str, value: Any, expected: Any) -> None:
    assert normalize_rule({field: value}, partial=True) == {field: expected}


#: Values refused for each field, as Balrog's schema and checks refuse them.
INVALID_VALUES: dict[str, list[Any]] = {
    "priority": [-1, "abc", "1.5", 1.0, True, None, ""],
    "backgroundRate": [101, 150, -1, "x", 50.0, False, None],
    "update_type": ["Minor", " minor", "", None, 1],
    "alias": ["3", "3abc", "abc#$%", "-abc", "a b", " abc", "a_b", "a" * 51, "ä", 5],
    "mapping": ["m" * 101, "Fírefox", 5],
    "fallbackMapping": ["f" * 101, "Fírefox"],
    "product": ["p" * 16, "Fírefox", 1],
    "channel": ["c" * 76, "nightlyÁ", ["release"]],
    "buildTarget": ["b" * 76, "Linüx"],
    "buildID": ["1" * 21, 20231201000000],
    "locale": ["l" * 201, "dé"],
    "osVersion": ["o" * 1001, "Windows™"],
    "memory": ["m" * 101, "<2048ä", 2048],
    "instructionSet": ["i" * 1001, "SSE✓"],
    "jaws": ["true", 1],
    "mig64": ["false", 0],
    "distribution": ["d" * 2001, "acmé"],
    "distVersion": ["d" * 101, "2.0ß"],
    "headerArchitecture": ["h" * 11, "PPÇ"],
    "comment": ["c" * 501, "naïve", 42],
    "version": ["v" * 76, 36.0],
}
INVALID: list[tuple[str, Any]] = [(f, v) for f, vs in INVALID_VALUES.items() for v in vs]


@pytest.mark.parametrize(("field", "value"), INVALID)
def test_invalid_value_is_refused_naming_the_field(field: str, value: Any) -> None:
    with pytest.raises(Invalid) as caught:
        normalize_rule({field: value}, partial=True)
    assert caught.value.field == field
    assert caught.value.message.startswith(f"{field}: ")
    assert "\n" not in caught.value.message


def test_message_names_field_problem_and_value() -> None:
    with pytest.raises(Invalid) as caught:
        normalize_rule({**MINIMAL, "backgroundRate": 150})
    assert str(caught.value) == "backgroundRate: must be an integer between 0 and 100, got 150"


def test_long_values_are_cut_short_in_messages() -> None:
    with pytest.raises(Invalid) as caught:
        normalize_rule({"comment": "é" * 400}, partial=True)
    assert len(caught.value.message) < 120


# ---------------------------------------------------------- version, buildID

GOOD_VERSIONS = [
    *(f"{op}4.0" for op in OPERATORS),  # testVersionValidation
    "36.0",
    "36.0.1",
    "5.0a1",  # alpha tags allowed for majors above 4
    "3.6.3plugin1",  # any alphabetic tag up to major 4
    "4.0b3",
    "1.5.0.4",  # four-part versions of old
    "99.98.*",  # testNewRulePostWithGlob
    "121.*",
    "3.3,4.2",  # testVersionListValidInput
    "3.1.3,4.2",
    "120.0.1,121.0.1",
    ">=120.0",
    "<115.0",
]

BAD_VERSIONS = [
    # testVersionValidationBogusInput
    "<= 4.0", " <=4.0", "<>4.0", "<=-4.0", "=4.0", "> 4.0", ">= 4.0", " >=4.0", " 4.0 ",
    # at least two parts, with or without an operator
    "5", *(f"{op}5" for op in OPERATORS),
    # no beta tags for majors above 4, and no tags at all on globs
    "5.0b4", "60.0b3",
    # globs: trailing ".*" on majors above 4 only, never with an operator
    "4.*", "70*", "70.0*", "70.0.1.*", "<70.*", ">=70.0.*", "*",
    # junk
    "abc", "36.0 ", "36.0,", ",36.0", "36..0", "   ",
]  # fmt: skip

BAD_VERSION_LISTS = [
    # operators or globs inside a list: only the admin API refuses them
    "<=4.0,3.0", ">=4.0,3.0", "4.0,<3.0", "4.0,>3.0", "70.*,71.*", "<115.0,115.0.1",
]  # fmt: skip


@pytest.mark.parametrize("admin_api", [False, True])
@pytest.mark.parametrize("version", GOOD_VERSIONS)
def test_version_accepted(version: str, admin_api: bool) -> None:
    assert normalize_rule({"version": version}, partial=True, admin_api=admin_api) == {
        "version": version
    }


@pytest.mark.parametrize("admin_api", [False, True])
@pytest.mark.parametrize("version", [*BAD_VERSIONS, "=4.0,3.0", "4.0,=3.0", "4.0,36"])
def test_version_refused(version: str, admin_api: bool) -> None:
    with pytest.raises(Invalid) as caught:
        normalize_rule({"version": version}, partial=True, admin_api=admin_api)
    assert caught.value.field == "version"


@pytest.mark.parametrize("version", BAD_VERSION_LISTS)
def test_version_list_of_comparisons_only_refused_by_admin_api(version: str) -> None:
    """Balrog's matcher evaluates each entry, so stored rules may have them."""
    assert normalize_rule({"version": version}, partial=True) == {"version": version}
    with pytest.raises(Invalid) as caught:
        normalize_rule({"version": version}, partial=True, admin_api=True)
    assert caught.value.field == "version"
    assert "comma-separated list" in caught.value.message


def test_version_junk_after_an_operand_is_accepted_as_balrog_does() -> None:
    """``get_op`` reads ``[.\\w]+`` after the operator and ignores the rest."""
    assert normalize_rule({"version": ">=36.0;x"}, partial=True) == {"version": ">=36.0;x"}


GOOD_BUILD_IDS = [
    "20231201000000",
    *(f"{op}20010101000000" for op in OPERATORS),  # testBuildIDValidation
    "2017 ",
]

BAD_BUILD_IDS = [
    "abcdef", "<abcdef",  # testBuildIDDoesntAcceptStrings
    # testBuilIDValidationBogusInput
    "<= 4120", " <=4120", "<>4120", "<=-4120", "=41230", "> 41210", ">= 41220", " >=41220",
    " 41220 ",
    # no globs, no lists, no decimals, no signs
    "2023*", "<2023*", "1,2", "20.17", "+5", "-5", "   ",
]  # fmt: skip


@pytest.mark.parametrize("build_id", GOOD_BUILD_IDS)
def test_build_id_accepted(build_id: str) -> None:
    normalized = normalize_rule({"buildID": build_id}, partial=True, admin_api=True)
    assert normalized == {"buildID": build_id.strip()}


@pytest.mark.parametrize("build_id", BAD_BUILD_IDS)
def test_build_id_refused(build_id: str) -> None:
    with pytest.raises(Invalid) as caught:
        normalize_rule({"buildID": build_id}, partial=True)
    assert caught.value.field == "buildID"


# ---------------------------------------------------------------- the whole


def test_whole_rule_has_every_column_absent_ones_none() -> None:
    normalized = normalize_rule({**MINIMAL, "product": "Firefox"})
    assert tuple(normalized) == RULE_COLUMNS
    assert normalized["product"] == "Firefox"
    assert normalized["channel"] is None
    assert normalized["jaws"] is None


def test_partial_rule_has_only_the_given_columns() -> None:
    assert normalize_rule({"channel": " beta ", "comment": ""}, partial=True) == {
        "channel": "beta",
        "comment": None,
    }
    assert normalize_rule({}, partial=True) == {}


@pytest.mark.parametrize("missing", ["priority", "backgroundRate", "update_type"])
def test_whole_rule_requires_priority_rate_and_update_type(missing: str) -> None:
    with pytest.raises(Invalid) as caught:
        normalize_rule({k: v for k, v in MINIMAL.items() if k != missing})
    assert caught.value.field == missing
    assert "required" in caught.value.message


@pytest.mark.parametrize("key", ["data_version", "Product", "foo", "when"])
def test_unknown_keys_are_refused(key: str) -> None:
    with pytest.raises(Invalid) as caught:
        normalize_rule({**MINIMAL, key: 1})
    assert caught.value.field == key


@pytest.mark.parametrize("rule_id", [0, 1, 33, "42"])
def test_rule_id_is_accepted_and_dropped(rule_id: Any) -> None:
    assert "rule_id" not in normalize_rule({**MINIMAL, "rule_id": rule_id})
    assert normalize_rule({"rule_id": rule_id}, partial=True) == {}


@pytest.mark.parametrize("rule_id", [-1, None, "", "x", True, 1.5])
def test_bad_rule_id_is_refused(rule_id: Any) -> None:
    with pytest.raises(Invalid) as caught:
        normalize_rule({**MINIMAL, "rule_id": rule_id})
    assert caught.value.field == "rule_id"


def test_mapping_may_be_null_in_a_stored_rule() -> None:
    assert normalize_rule(MINIMAL)["mapping"] is None


@pytest.mark.parametrize("mapping", [None, "", "  "])
def test_admin_api_create_requires_a_mapping(mapping: Any) -> None:
    with pytest.raises(Invalid) as caught:
        normalize_rule({**MINIMAL, "mapping": mapping}, admin_api=True)
    assert caught.value.field == "mapping"
    with pytest.raises(Invalid):
        normalize_rule(MINIMAL, admin_api=True)


def test_admin_api_update_may_omit_mapping_but_not_null_it() -> None:
    assert normalize_rule({"priority": 5}, partial=True, admin_api=True) == {"priority": 5}
    assert normalize_rule({"mapping": "b"}, partial=True, admin_api=True) == {"mapping": "b"}
    with pytest.raises(Invalid) as caught:
        normalize_rule({"mapping": ""}, partial=True, admin_api=True)
    assert caught.value.field == "mapping"


def test_first_problem_wins_in_column_order() -> None:
    with pytest.raises(Invalid) as caught:
        normalize_rule({**MINIMAL, "priority": -1, "comment": "é"})
    assert caught.value.field == "priority"


# ------------------------------------------------------------------- alias


@pytest.mark.parametrize(
    ("alias", "expected"),
    [("firefox-nightly", "firefox-nightly"), ("x", "x"), ("", None), (None, None)],
)
def test_validate_alias_accepts(alias: Any, expected: str | None) -> None:
    assert validate_alias(alias) == expected


@pytest.mark.parametrize("alias", ["1", "9abc", "a.b", "a/b", "a" * 51, " a", 7])
def test_validate_alias_refuses(alias: Any) -> None:
    with pytest.raises(Invalid) as caught:
        validate_alias(alias)
    assert caught.value.field == "alias"


# ----------------------------------------------------------------- fixture


def _fixture_rules() -> list[dict[str, Any]]:
    return json.loads(FIXTURE.read_text())["rules"]


def test_fixture_has_33_rules() -> None:
    assert len(_fixture_rules()) == 33


@pytest.mark.parametrize("rule", _fixture_rules(), ids=lambda r: f"rule{r['rule_id']}")
def test_every_fixture_rule_normalizes(rule: dict[str, Any]) -> None:
    normalized = normalize_rule(rule)
    assert tuple(normalized) == RULE_COLUMNS
    for key, value in rule.items():
        if key != "rule_id":
            assert normalized[key] == value
    assert normalize_rule(rule, partial=True) == {k: v for k, v in normalized.items() if k in rule}


# -------------------------------------------------------------- properties

_ascii = st.text(st.characters(min_codepoint=0, max_codepoint=127), max_size=12)
_version_entry = st.one_of(
    st.builds(lambda a, b: f"{a}.{b}", st.integers(0, 200), st.integers(0, 20)),
    st.builds(
        lambda a, b, c: f"{a}.{b}.{c}", st.integers(0, 200), st.integers(0, 20), st.integers(0, 9)
    ),
    st.builds(lambda a: f"{a}.*", st.integers(5, 200)),
    st.sampled_from(["5.0a1", "3.6.3plugin1", "1.5.0.4", "4.0b3", "5.0b4", "5", "x"]),
)  # fmt: skip
_versions = st.one_of(
    _version_entry,
    st.builds(lambda op, v: op + v, st.sampled_from(OPERATORS), _version_entry),
    st.lists(_version_entry, min_size=2, max_size=4).map(",".join),
)
_build_ids = st.one_of(
    st.integers(0, 10**14).map(str),
    st.builds(lambda op, n: f"{op}{n}", st.sampled_from(OPERATORS), st.integers(0, 10**14)),
    _ascii,
)

_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "alias": st.one_of(
        st.none(), st.from_regex(r"[a-zA-Z][a-zA-Z0-9-]{0,10}", fullmatch=True), _ascii
    ),
    "priority": st.one_of(st.integers(-2, 1000), st.integers(0, 1000).map(lambda n: f" {n} ")),
    "backgroundRate": st.one_of(st.integers(-1, 101), st.integers(0, 100).map(str)),
    "update_type": st.sampled_from(["minor", "major", "Minor"]),
    "version": st.one_of(st.none(), _versions),
    "buildID": st.one_of(st.none(), _build_ids),
    "jaws": st.sampled_from([None, True, False]),
    "mig64": st.sampled_from([None, True, False]),
    **{
        name: st.one_of(st.none(), _ascii)
        for name in (
            "mapping", "fallbackMapping", "product", "channel", "buildTarget", "locale",
            "osVersion", "memory", "instructionSet", "distribution", "distVersion",
            "headerArchitecture", "comment",
        )
    },
}  # fmt: skip

_rules = st.fixed_dictionaries(
    {k: _VALUES[k] for k in ("priority", "backgroundRate", "update_type")},
    optional={k: v for k, v in _VALUES.items() if k not in MINIMAL},
)


def _try(fields: dict[str, Any], **options: Any) -> dict[str, Any] | Invalid:
    try:
        return normalize_rule(fields, **options)
    except Invalid as error:
        return error


@given(_rules, st.booleans())
def test_normalizing_is_idempotent(fields: dict[str, Any], admin_api: bool) -> None:
    first = _try(fields, admin_api=admin_api)
    if isinstance(first, dict):
        assert normalize_rule(first, admin_api=admin_api) == first


@given(_rules)
def test_partial_agrees_with_whole(fields: dict[str, Any]) -> None:
    whole, part = _try(fields), _try(fields, partial=True)
    if isinstance(whole, dict):
        assert part == {k: whole[k] for k in fields}
    else:
        assert isinstance(part, Invalid)
        assert (part.field, part.message) == (whole.field, whole.message)


@given(_rules)
def test_admin_api_only_ever_adds_refusals(fields: dict[str, Any]) -> None:
    strict = _try(fields, admin_api=True)
    if isinstance(strict, dict):
        assert _try(fields) == strict


@given(_rules)
def test_refusals_name_a_column(fields: dict[str, Any]) -> None:
    outcome = _try(fields)
    if isinstance(outcome, Invalid):
        assert outcome.field in fields
        assert outcome.message.startswith(f"{outcome.field}: ")


@given(st.lists(_version_entry.filter(lambda v: not v.endswith("*")), min_size=1, max_size=5))
def test_a_list_of_valid_plain_versions_is_valid(entries: list[str]) -> None:
    """Validity of a plain list is validity of each entry (length permitting)."""
    if all(_try({"version": e}, partial=True, admin_api=True) == {"version": e} for e in entries):
        joined = ",".join(entries)
        if len(joined) > 75:
            return
        assert normalize_rule({"version": joined}, partial=True, admin_api=True) == {
            "version": joined
        }


# ---------------------------------------------------- addressable names (issue 17)

UNADDRESSABLE = ["a/b", "..", "x..y", ".", "a\x00", "a\r\nb", "a\tb", "a\u202eb", "a\u2066", "a?b"]


@pytest.mark.parametrize("bad", UNADDRESSABLE)
def test_unaddressable_names_are_refused_at_write_time(bad: str) -> None:
    with pytest.raises(Invalid, match="name"):
        check_release_identity(bad, "Firefox")
    if bad.isascii():  # product and channel are ASCII columns besides
        with pytest.raises(Invalid, match="channel"):
            normalize_shutoff({"product": "Firefox", "channel": bad})
        with pytest.raises(Invalid, match="product"):
            normalize_rule({**MINIMAL, "product": bad})


def test_the_fixture_names_stay_writable() -> None:
    snapshot = json.loads(FIXTURE.read_text())
    for release in snapshot["releases"]:
        check_release_identity(release["name"], release["product"])
    for rule in snapshot["rules"]:
        normalize_rule({**MINIMAL, **{k: rule.get(k) for k in ("product", "channel")}})
