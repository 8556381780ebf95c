"""The ``{name:id}`` path convertor: an id as a route matches it, bounded.

Starlette's ``int`` convertor matches any run of digits and then calls
``int()``, which raises past 4,300 digits (a 503, issue 17) and otherwise
hands handlers numbers no store can hold. ``id`` matches 1-19 ASCII digits up
to a signed 64-bit integer, so a longer one simply matches no route (404).
Importing this module registers it.
"""

from __future__ import annotations

from starlette.convertors import Convertor, register_url_convertor

from rulelog.domain.bounds import MAX_ID, id_from

__all__ = ["IdConvertor"]


class IdConvertor(Convertor[int]):
    regex = "[0-9]{1,19}"

    def convert(self, value: str) -> int:
        found = id_from(value)
        # past MAX_ID: the route's handler answers "not found" for an id beyond any
        return found if found is not None else MAX_ID

    def to_string(self, value: int) -> str:
        return str(value)


register_url_convertor("id", IdConvertor())
