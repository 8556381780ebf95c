"""Names that must stay addressable: releases, products and channels.

Each of these names is a segment of an admin API URL (``/api/releases/{name}``,
``/api/emergency_shutoff/{product}/{channel}``) and of the update URLs
clients build. A name with a ``/`` or ``..`` cannot be one segment; control
characters (NUL, CR, LF) break headers and logs; bidi controls make a name
read as another (issue 17: such a release could be created but never read,
updated or deleted through its URL). They are refused when a name is written;
every name in Balrog's own data (and in the test fixture) passes.
"""

from __future__ import annotations

import unicodedata

from rulelog.domain.errors import Invalid

__all__ = ["check_addressable"]

#: Characters a URL segment cannot carry as themselves (``?``/``#`` end the path).
_URL_BREAKING = frozenset("/\\?#")
#: Unicode bidirectional controls (embeddings, overrides, isolates, marks).
_BIDI = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def check_addressable(field: str, value: str) -> str:
    """``value`` unchanged, or ``Invalid`` naming the first character a URL cannot carry."""
    for char in value:
        if char in _URL_BREAKING or char in _BIDI or unicodedata.category(char) == "Cc":
            shown = f"U+{ord(char):04X}"
            raise Invalid(
                f"{field}: must not contain {shown} ({char!r} cannot be part of a URL segment)"
                if char in _URL_BREAKING
                else f"{field}: must not contain the control character {shown}",
                field=field,
            )
    if ".." in value or value == ".":
        raise Invalid(f"{field}: must not be '.' or contain '..'", field=field)
    return value
