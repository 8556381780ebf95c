"""Pairs of integers (an event's ordinal or position, a Balrog ``change_id``), kept small.

An import of a Balrog database with a million history rows names a million
change_ids, one per imported row. As Python lists of pairs they cost about
200 bytes a row in the importing process (a third of its memory budget) and in
every reader that answers history routes, and as JSON in the import's event
some 20 bytes a row. Kept here as two ``array('q')`` columns they cost 16 bytes
a row in memory; stored as deltas (mostly small: both columns grow in history
order), compressed, the event holds a few bytes a row.

Pure: no I/O, so the replay (domain), the importer (services) and the history
readers (projections) share one definition of the stored form.
"""

from __future__ import annotations

import base64
import binascii
import zlib
from array import array
from bisect import bisect_left
from collections.abc import Callable, Iterator
from itertools import accumulate, pairwise

#: The stored form's version, first in the string (a later form gets another).
_FORM = "d1:"


class IdPairs:
    """(first, second) integer pairs in the order they were added."""

    __slots__ = ("firsts", "seconds")

    def __init__(self, firsts: array | None = None, seconds: array | None = None) -> None:
        self.firsts = firsts if firsts is not None else array("q")
        self.seconds = seconds if seconds is not None else array("q")

    def __len__(self) -> int:
        return len(self.firsts)

    def __iter__(self) -> Iterator[tuple[int, int]]:
        return zip(self.firsts, self.seconds, strict=True)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, IdPairs) and list(self) == list(other)

    def __repr__(self) -> str:
        return f"IdPairs({list(self)!r})"

    def append(self, first: int, second: int) -> None:
        self.firsts.append(first)
        self.seconds.append(second)

    def extend(self, other: IdPairs) -> None:
        self.firsts.extend(other.firsts)
        self.seconds.extend(other.seconds)

    def with_firsts(self, mapped: Callable[[int], int]) -> IdPairs:
        """The same pairs with each first value mapped (ordinals to log positions)."""
        return IdPairs(array("q", map(mapped, self.firsts)), array("q", self.seconds))

    # ------------------------------------------------------------ stored form

    def encode(self) -> str:
        """ASCII text: both columns as deltas, compressed, base64."""
        deltas = array("q", _deltas(self.firsts))
        deltas.extend(_deltas(self.seconds))
        packed = zlib.compress(deltas.tobytes(), 6)
        return _FORM + base64.b64encode(packed).decode("ascii")

    @classmethod
    def decode(cls, text: str) -> IdPairs:
        """The pairs ``encode`` wrote; ``ValueError`` on anything else."""
        if not text.startswith(_FORM):
            raise ValueError(f"not a stored id-pairs text: {text[:20]!r}")
        deltas = array("q")
        try:
            deltas.frombytes(zlib.decompress(base64.b64decode(text[len(_FORM) :])))
        except (zlib.error, binascii.Error) as error:
            raise ValueError(f"stored id pairs do not decode: {error}") from None
        half = len(deltas) // 2
        if half * 2 != len(deltas):
            raise ValueError("stored id pairs have columns of different lengths")
        return cls(array("q", accumulate(deltas[:half])), array("q", accumulate(deltas[half:])))


def _deltas(values: array) -> Iterator[int]:
    previous = 0
    for value in values:
        yield value - previous
        previous = value


class PairIndex:
    """Look-ups both ways over pairs whose first values are unique (log positions)."""

    __slots__ = ("_by_first", "_by_second")

    def __init__(self) -> None:
        self._by_first = IdPairs()
        self._by_second = IdPairs()

    def add(self, pairs: IdPairs) -> None:
        """Take more pairs (a later import's: usually after all the others)."""
        self._by_first = _sorted(self._by_first, pairs, swap=False)
        self._by_second = _sorted(self._by_second, pairs, swap=True)

    def second_of(self, first: int) -> int | None:
        return _find(self._by_first, first)

    def first_of(self, second: int) -> int | None:
        return _find(self._by_second, second)

    def has_first(self, first: int) -> bool:
        return self.second_of(first) is not None


def _sorted(held: IdPairs, more: IdPairs, *, swap: bool) -> IdPairs:
    """``held`` (sorted by its first column) with ``more`` merged in, sorted the same.

    Appending is enough when the new keys all come after the held ones, as an
    import's and each catch-up's do; otherwise the whole is sorted once.
    """
    keys, values = (more.seconds, more.firsts) if swap else (more.firsts, more.seconds)
    ascending = all(a < b for a, b in pairwise(keys))
    if ascending and (not held.firsts or not keys or held.firsts[-1] < keys[0]):
        out = IdPairs(array("q", held.firsts), array("q", held.seconds))
        out.extend(IdPairs(array("q", keys), array("q", values)))
        return out
    merged = sorted([*held, *zip(keys, values, strict=True)])
    return IdPairs(array("q", (k for k, _ in merged)), array("q", (v for _, v in merged)))


def _find(pairs: IdPairs, key: int) -> int | None:
    at = bisect_left(pairs.firsts, key)
    if at < len(pairs.firsts) and pairs.firsts[at] == key:
        return pairs.seconds[at]
    return None
