"""The text ``print_json`` writes for a listing's rows, made without ``json.dumps``.

A listing (``listings``) keeps each row's text as an element of a list, so
``rules list --json`` writes the stored texts as they are; these functions make
those texts, and join them into the list.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from json.encoder import encode_basestring_ascii  # type: ignore[attr-defined]
from typing import Any

#: Rows read per fetch of a listing, and written per page.
PAGE_ROWS = 2000


def render(row: dict[str, Any]) -> str:
    """The text ``print_json`` writes for ``row`` as an element of a list of rows.

    ``json.dumps`` with an indent runs the pure-Python encoder (a rebuild of
    100,000 rules spent a third of its time there); a row of plain values is
    written line by line with the C string encoder instead, to the same text.
    """
    lines = []
    for key, value in row.items():
        text = _plain(value) if isinstance(key, str) else None
        if text is None:
            return "  " + json.dumps(row, indent=2, default=str).replace("\n", "\n  ")
        lines.append(f"    {encode_basestring_ascii(key)}: {text}")
    if not lines:
        return "  {}"
    return "  {\n" + ",\n".join(lines) + "\n  }"


def _plain(value: Any) -> str | None:
    """A value's JSON text as ``json.dumps`` writes it, or None if not a plain value."""
    kind = type(value)
    if kind is str:
        return encode_basestring_ascii(value)
    if value is None:
        return "null"
    if kind is bool:
        return "true" if value else "false"
    if kind is int:
        return int.__repr__(value)
    if kind is float:
        return json.dumps(value)
    return None


def listing_bytes(pages: Iterable[list[bytes]]) -> Iterator[bytes]:
    """``print_json(rows)``'s text (without its final newline), a page of rows at a
    time, from the rows' texts as stored (ASCII), as bytes."""
    first = True
    for page in pages:
        if page:
            yield (b"[\n" if first else b",\n") + b",\n".join(page)
            first = False
    yield b"[]" if first else b"\n]"


def pages_of(
    rows: Mapping[str, tuple[dict[str, Any], int] | None],
    sort_key: Callable[[dict[str, Any]], bytes],
) -> Iterator[list[str]]:
    """Rows folded in memory, rendered in the listing's order, a page at a time."""
    live = sorted((kept[0] for kept in rows.values() if kept), key=sort_key)
    for start in range(0, len(live), PAGE_ROWS):
        yield [render(row) for row in live[start : start + PAGE_ROWS]]
