"""Reading events stored before their class gained fields.

An event class whose version 2 added fields sets ``class_version = 2`` and
``upcast_v1_v2 = fields_added(name=default, ...)``; eventsourcing calls it on
the stored state of each version-1 event before decoding it.
"""

from __future__ import annotations

import copy
from typing import Any


def fields_added(**defaults: Any) -> staticmethod[[dict[str, Any]], None]:
    """The ``upcast_v1_v2`` giving a version-1 event each field version 2 added.

    Each event gets its own copy of a mutable default.
    """

    def upcast_v1_v2(state: dict[str, Any]) -> None:
        state.update(copy.deepcopy(defaults))

    return staticmethod(upcast_v1_v2)
