"""Tests of ``domain.shutoff_fields``: emergency shutoffs and pinnable releases.

Limits come from Balrog's ``emergency_shutoffs`` / ``pinnable_releases`` tables
and the ``EmergencyShutOffModel`` / ``PinnableReleaseModel`` schemas.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rulelog.domain.catalog.shutoff_pin_fields import (
    PIN_FIELDS,
    SHUTOFF_FIELDS,
    normalize_pin,
    normalize_shutoff,
)
from rulelog.domain.errors import Invalid

FIXTURE = Path(__file__).resolve().parents[1] / "data" / "fixture.json"

SHUTOFF = {"product": "Firefox", "channel": "release", "comment": "bad build"}
PIN = {"product": "Firefox", "channel": "release", "version": "120.", "mapping": "Firefox-120.0"}


def test_columns_are_balrogs() -> None:
    assert SHUTOFF_FIELDS == ("product", "channel", "comment")
    assert PIN_FIELDS == ("product", "version", "channel", "mapping")


# ----------------------------------------------- shutoffs and pins, field by field

#: kind -> (its normalizer, a valid row of it)
KINDS = {"shutoff": (normalize_shutoff, SHUTOFF), "pin": (normalize_pin, PIN)}
#: Limits both share (Balrog's product and channel columns).
BOTH_ACCEPT = [("product", "p"), ("product", "p" * 15), ("channel", "c"), ("channel", "c" * 75)]
BOTH_REFUSE = [
    *(("product", v) for v in (None, "", "p" * 16, "Fírefox")),
    *(("channel", v) for v in (None, "", "c" * 76)),
]
ACCEPTED = {
    "shutoff": [
        ("channel", "release*"),
        ("comment", None),
        ("comment", ""),
        ("comment", "c" * 500),
        ("comment", " kept as given "),
    ],
    "pin": [
        ("mapping", "m"),
        ("mapping", "m" * 100),
        ("version", "120."),
        ("version", "120.1."),
        ("version", "0."),
        ("version", "102.0."),
        ("version", "1" * 74 + "."),
    ],
}
REFUSED = {
    "shutoff": [
        ("product", 1),
        ("channel", "nightlyÁ"),
        ("channel", ["release"]),
        ("comment", "c" * 501),
        ("comment", "naïve"),
        ("comment", 3),
    ],
    "pin": [
        ("channel", "bétà"),
        ("mapping", None),
        ("mapping", ""),
        ("mapping", "m" * 101),
        ("mapping", "Fírefox-120"),
        ("mapping", 120),
        ("version", None),
        ("version", ""),
        ("version", "1" * 75 + "."),
        # not a pin Balrog could ever match (``PinVersion``)
        ("version", "120"),
        ("version", "120.0"),
        ("version", "120.1.2."),
        ("version", "120.*"),
        ("version", "0120."),
        ("version", "120.01."),
        ("version", " 120."),
        ("version", "120. "),
        ("version", "a."),
        ("version", "١٢٠."),
        ("version", 120),
    ],
}


def _cases(both: list[tuple[str, Any]], own: dict[str, list[tuple[str, Any]]]) -> list[Any]:
    return [(kind, field, value) for kind in KINDS for field, value in [*both, *own[kind]]]


@pytest.mark.parametrize(("kind", "field", "value"), _cases(BOTH_ACCEPT, ACCEPTED))
def test_value_accepted_unaltered(kind: str, field: str, value: Any) -> None:
    normalize, valid = KINDS[kind]
    assert normalize({**valid, field: value})[field] == value


@pytest.mark.parametrize(("kind", "field", "value"), _cases(BOTH_REFUSE, REFUSED))
def test_value_refused_naming_the_field(kind: str, field: str, value: Any) -> None:
    normalize, valid = KINDS[kind]
    with pytest.raises(Invalid) as caught:
        normalize({**valid, field: value})
    assert caught.value.field == field
    assert caught.value.message.startswith(f"{field}: ")


@pytest.mark.parametrize(
    ("kind", "missing"),
    # a shutoff's comment is optional; every column of a pin is required
    [("shutoff", "product"), ("shutoff", "channel"), *(("pin", f) for f in PIN_FIELDS)],
)
def test_required_columns(kind: str, missing: str) -> None:
    normalize, valid = KINDS[kind]
    with pytest.raises(Invalid) as caught:
        normalize({k: v for k, v in valid.items() if k != missing})
    assert caught.value.field == missing


def test_shutoff_comment_is_optional() -> None:
    assert normalize_shutoff({"product": "GMP", "channel": "esr"}) == {
        "product": "GMP",
        "channel": "esr",
        "comment": None,
    }


@pytest.mark.parametrize(
    ("kind", "key", "value"),
    [
        *(("shutoff", key, "x") for key in ("data_version", "version", "Product")),
        *(("pin", key, 1) for key in ("data_version", "when", "comment")),
    ],
)
def test_unknown_keys_refused(kind: str, key: str, value: Any) -> None:
    normalize, valid = KINDS[kind]
    with pytest.raises(Invalid) as caught:
        normalize({**valid, key: value})
    assert caught.value.field == key


# ----------------------------------------------------------------- fixture


def _fixture() -> dict[str, Any]:
    return json.loads(FIXTURE.read_text())


@pytest.mark.parametrize("row", _fixture()["emergency_shutoffs"])
def test_every_fixture_shutoff_normalizes(row: dict[str, Any]) -> None:
    assert normalize_shutoff(row) == {"comment": None, **row}


@pytest.mark.parametrize("row", _fixture()["pinnable_releases"])
def test_every_fixture_pin_normalizes(row: dict[str, Any]) -> None:
    assert normalize_pin(row) == row


# -------------------------------------------------------------- properties

_ascii = st.text(st.characters(min_codepoint=0, max_codepoint=127), max_size=20)
_any_text = st.one_of(st.none(), _ascii, st.text(max_size=5))


@given(product=_any_text, channel=_any_text, comment=_any_text)
def test_shutoff_normalizing_is_idempotent(product: Any, channel: Any, comment: Any) -> None:
    try:
        first = normalize_shutoff({"product": product, "channel": channel, "comment": comment})
    except Invalid as error:
        assert error.field in SHUTOFF_FIELDS
        return
    assert normalize_shutoff(first) == first


@given(major=st.integers(0, 10**6), minor=st.none() | st.integers(0, 10**6))
def test_every_canonical_pin_version_is_accepted(major: int, minor: int | None) -> None:
    """What ``str(PinVersion(...))`` prints is exactly what is accepted."""
    version = f"{major}." if minor is None else f"{major}.{minor}."
    assert normalize_pin({**PIN, "version": version})["version"] == version


@given(version=st.text(alphabet="0123456789. a*", max_size=10))
def test_accepted_pin_versions_are_canonical(version: str) -> None:
    try:
        normalize_pin({**PIN, "version": version})
    except Invalid as error:
        assert error.field == "version"
        return
    numbers = version.split(".")[:-1]
    assert version.endswith(".") and 1 <= len(numbers) <= 2
    assert "".join(f"{int(n)}." for n in numbers) == version
