"""The import's (position, change_id) pairs: stored form and look-ups.

Laws: decoding an encoded list of pairs gives the same pairs in the same
order; a ``PairIndex`` finds every pair both ways, whatever order the pairs
and the imports came in, and finds nothing for a key it was not given.
"""

from __future__ import annotations

import base64
import zlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rulelog.domain.balrog.id_pairs import IdPairs, PairIndex

#: Positions and change_ids: positive, below 2**62 (so every delta fits a signed 64-bit).
IDS = st.integers(0, 2**62)
PAIRS = st.lists(st.tuples(IDS, IDS))


def pairs_of(values: list[tuple[int, int]]) -> IdPairs:
    made = IdPairs()
    for first, second in values:
        made.append(first, second)
    return made


@given(PAIRS)
def test_the_stored_form_gives_back_the_same_pairs(values: list[tuple[int, int]]) -> None:
    text = pairs_of(values).encode()
    assert text.isascii()
    assert list(IdPairs.decode(text)) == values


def test_a_long_import_is_stored_in_a_few_bytes_a_row() -> None:
    rows = pairs_of([(1000 + 3 * n, 500 + n) for n in range(100_000)])
    assert len(rows.encode()) < 100_000  # under a byte a row; JSON pairs take ~16


ODD = "d1:" + base64.b64encode(zlib.compress(bytes(8))).decode()  # one column short


@pytest.mark.parametrize("text", ["", "[[1, 2]]", "d1:!!!", "d1:AAAA", ODD])
def test_anything_else_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        IdPairs.decode(text)


@given(
    st.lists(st.lists(st.integers(1, 10**9), unique=True, max_size=30), max_size=4).filter(
        lambda batches: len({k for b in batches for k in b}) == sum(map(len, batches))
    )
)
def test_an_index_finds_every_pair_both_ways(batches: list[list[int]]) -> None:
    index = PairIndex()
    for batch in batches:
        index.add(pairs_of([(key, key * 7 + 3) for key in batch]))
    for key in (k for b in batches for k in b):
        assert index.second_of(key) == key * 7 + 3
        assert index.first_of(key * 7 + 3) == key
        assert index.has_first(key)
    given_keys = {k for b in batches for k in b}
    assert all(index.second_of(k) is None for k in range(0, 50) if k not in given_keys)


def test_positions_map_to_new_values_in_order() -> None:
    ordinals = pairs_of([(1, 10), (3, 11), (4, 15)])
    assert list(ordinals.with_firsts(lambda o: o + 100)) == [(101, 10), (103, 11), (104, 15)]
