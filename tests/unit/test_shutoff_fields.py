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


# ---------------------------------------------------------------- shutoffs


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("product", "p"),
        ("product", "p" * 15),
        ("channel", "c"),
        ("channel", "c" * 75),
        ("channel", "release*"),
        ("comment", None),
        ("comment", ""),
        ("comment", "c" * 500),
        ("comment", " kept as given "),
    ],
)
def test_shutoff_value_accepted_unaltered(field: str, value: Any) -> None:
    assert normalize_shutoff({**SHUTOFF, field: value})[field] == value


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("product", None),
        ("product", ""),
        ("product", "p" * 16),
        ("product", "Fírefox"),
        ("product", 1),
        ("channel", None),
        ("channel", ""),
        ("channel", "c" * 76),
        ("channel", "nightlyÁ"),
        ("channel", ["release"]),
        ("comment", "c" * 501),
        ("comment", "naïve"),
        ("comment", 3),
    ],
)
def test_shutoff_value_refused_naming_the_field(field: str, value: Any) -> None:
    with pytest.raises(Invalid) as caught:
        normalize_shutoff({**SHUTOFF, field: value})
    assert caught.value.field == field
    assert caught.value.message.startswith(f"{field}: ")


@pytest.mark.parametrize("missing", ["product", "channel"])
def test_shutoff_requires_product_and_channel(missing: str) -> None:
    with pytest.raises(Invalid) as caught:
        normalize_shutoff({k: v for k, v in SHUTOFF.items() if k != missing})
    assert caught.value.field == missing


def test_shutoff_comment_is_optional() -> None:
    assert normalize_shutoff({"product": "GMP", "channel": "esr"}) == {
        "product": "GMP",
        "channel": "esr",
        "comment": None,
    }


@pytest.mark.parametrize("key", ["data_version", "version", "Product"])
def test_shutoff_unknown_keys_refused(key: str) -> None:
    with pytest.raises(Invalid) as caught:
        normalize_shutoff({**SHUTOFF, key: "x"})
    assert caught.value.field == key


# -------------------------------------------------------------------- pins


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("product", "p"),
        ("product", "p" * 15),
        ("channel", "c"),
        ("channel", "c" * 75),
        ("mapping", "m"),
        ("mapping", "m" * 100),
        ("version", "120."),
        ("version", "120.1."),
        ("version", "0."),
        ("version", "102.0."),
        ("version", "1" * 74 + "."),
    ],
)
def test_pin_value_accepted_unaltered(field: str, value: Any) -> None:
    assert normalize_pin({**PIN, field: value})[field] == value


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("product", None),
        ("product", ""),
        ("product", "p" * 16),
        ("product", "Fírefox"),
        ("channel", None),
        ("channel", ""),
        ("channel", "c" * 76),
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
)
def test_pin_value_refused_naming_the_field(field: str, value: Any) -> None:
    with pytest.raises(Invalid) as caught:
        normalize_pin({**PIN, field: value})
    assert caught.value.field == field
    assert caught.value.message.startswith(f"{field}: ")


@pytest.mark.parametrize("missing", PIN_FIELDS)
def test_pin_requires_every_column(missing: str) -> None:
    with pytest.raises(Invalid) as caught:
        normalize_pin({k: v for k, v in PIN.items() if k != missing})
    assert caught.value.field == missing


@pytest.mark.parametrize("key", ["data_version", "when", "comment"])
def test_pin_unknown_keys_refused(key: str) -> None:
    with pytest.raises(Invalid) as caught:
        normalize_pin({**PIN, key: 1})
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
