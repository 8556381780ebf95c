"""Helpers for table-driven tests: tables shaped the way their cases are read."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TypeVar

K = TypeVar("K")
V = TypeVar("V")


def truth_table(table: Mapping[K, tuple[Sequence[V], Sequence[V]]]) -> list[tuple[K, V, bool]]:
    """``{key: (values it holds for, values it does not)}`` as ``(key, value, expected)`` cases:
    one line per pattern or expression reads better than one per value."""
    return [
        (key, value, expected)
        for key, (holds, fails) in table.items()
        for expected, values in ((True, holds), (False, fails))
        for value in values
    ]
