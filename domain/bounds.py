"""The ranges numbers from callers must fall in before anything computes with them.

Python's ``int`` takes any number of digits (up to a 4,300-digit guard that
raises ``ValueError``), so an id or position from a URL could overflow a
``timedelta`` or a SQL ``BIGINT``, or trip that guard, far from where it was
read (issue 17: 503s). Ids, positions and data versions are SQL ``BIGINT``s;
times are what ``datetime`` can hold.
"""

from __future__ import annotations

__all__ = ["MAX_EPOCH_MS", "MAX_ID", "id_from"]

#: The largest id, position or data version (a signed 64-bit integer).
MAX_ID = 2**63 - 1
#: Epoch milliseconds of 9999-12-31T23:59:59.999Z, the last instant ``datetime`` holds.
MAX_EPOCH_MS = 253_402_300_799_999


def id_from(text: str, limit: int = MAX_ID) -> int | None:
    """The non-negative integer ``text`` spells in ASCII digits, if at most ``limit``;
    else None (not a number, or not one rulelog could hold)."""
    if not (text.isascii() and text.isdigit()) or len(text) > len(str(limit)):
        return None
    value = int(text)
    return value if value <= limit else None
