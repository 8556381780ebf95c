"""A listing's rows are written as ``print_json`` writes the list, byte for byte.

``render`` writes a row of plain values line by line (``json.dumps`` with an
indent is the slow pure-Python encoder) and anything else through ``json.dumps``;
``listing_bytes`` joins rendered rows, a page at a time, into the list's text.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from rulelog.projections.listing_text import listing_bytes, render
from rulelog.projections.listings import release_order, rule_order

SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=6,
)
ROWS = st.dictionaries(st.text(), VALUES, max_size=8)


def printed(rows: list[Any]) -> str:
    """``print_json``'s text without its final newline."""
    return json.dumps(rows, indent=2, sort_keys=False, default=str)


def joined(pages: list[list[str]]) -> str:
    """``listing_bytes`` of the rendered texts (ASCII, as stored), as text."""
    return b"".join(listing_bytes([[text.encode("ascii") for text in p] for p in pages])).decode()


@given(rows=st.lists(ROWS, max_size=6), page=st.integers(1, 4))
def test_rendered_rows_join_into_the_printed_list(rows: list[dict[str, Any]], page: int) -> None:
    rendered = [render(row) for row in rows]
    pages = [rendered[i : i + page] for i in range(0, len(rendered), page)]
    assert joined(pages) == printed(rows)


def test_values_json_has_no_type_for_are_written_as_print_json_writes_them() -> None:
    row = {"pair": ("a", 1), "when": datetime(2030, 1, 1, tzinfo=UTC), 3: "non-string key"}
    assert joined([[render(row)]]) == printed([row])


@given(names=st.lists(st.text(min_size=1), unique=True))
def test_release_order_is_the_order_of_names(names: list[str]) -> None:
    by_key = sorted(({"name": n} for n in names), key=release_order)
    assert [r["name"] for r in by_key] == sorted(names)


@given(
    rows=st.lists(
        st.tuples(st.integers(1, 2**70), st.none() | st.integers(-(2**70), 2**70)),
        unique_by=lambda r: r[0],
    )
)
def test_rule_order_is_sorted_rules_order(rows: list[tuple[int, int | None]]) -> None:
    rules = [{"rule_id": rule_id, "priority": priority} for rule_id, priority in rows]
    expected = sorted(rules, key=lambda r: (-(r["priority"] or 0), r["rule_id"]))
    assert sorted(rules, key=rule_order) == expected
