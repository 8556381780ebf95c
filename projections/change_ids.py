"""The ``change_id`` Balrog's history routes answer for a change, from the log.

rulelog's own history id is an event's log position (unique, increasing). A
store made by ``import-balrog`` answers, for each imported history row, the
``change_id`` Balrog gave it, so ids a client kept (a revert's, a bookmark's)
still name the same change: the import's events (``domain.balrog.marks``) map
each such row's event position to its change_id, per Balrog table.

Every other event -- a change made in rulelog after the import, or one the import
made without a Balrog row of its own (a row whose history Balrog did not keep, the
filling of a data_version gap) -- answers its position plus an offset: the highest
change_id of any Balrog history table that the import (or catch-up) covering that
position had seen, so its id is above every id imported by then, increases with the
position, and never changes. Changes made in rulelog between two catch-ups could
meet an id a later catch-up brings from Balrog; the cut-over writes in one place
at a time (Balrog until the switch, rulelog after), so that does not arise. A store
not made by an import answers positions, as before.
"""

from __future__ import annotations

from bisect import bisect_left
from typing import Any

from rulelog.domain.balrog.id_pairs import IdPairs, PairIndex
from rulelog.domain.balrog.marks import BalrogImport
from rulelog.domain.balrog.rows import SC_KINDS
from rulelog.domain.ids import balrog_import_id
from rulelog.projections.log import LoggedEvent, read_aggregate

__all__ = ["IMPORT_TOPICS", "ChangeIds", "sc_table"]

IMPORT_TOPICS = (BalrogImport.Created.TOPIC, BalrogImport.CaughtUp.TOPIC)
_SC_TABLES = {kind: f"{base}_scheduled_changes" for base, kind in SC_KINDS.items()}


def sc_table(kind: str) -> str:
    """The Balrog history table of a scheduled-change kind's revisions."""
    return _SC_TABLES.get(kind, f"{kind}_scheduled_changes")


class ChangeIds:
    """position <-> change_id per Balrog table, folded from the import's events."""

    def __init__(self) -> None:
        #: per Balrog table: position <-> change_id of each imported row
        self._tables: dict[str, PairIndex] = {}
        #: per import, in log order: the position of its event, and its offset
        self._ends: list[int] = []
        self._offsets: list[int] = []

    @classmethod
    def read(cls, app: Any, stop: int | None = None) -> ChangeIds:
        """The ids of the imports up to position ``stop`` (a fold that starts there)."""
        found = cls()
        for logged in read_aggregate(app, balrog_import_id(), IMPORT_TOPICS, stop):
            found.record(logged)
        return found

    def record(self, logged: LoggedEvent, *_: Any) -> None:
        """Fold an event (any: only the import's matter; each is taken once)."""
        if logged.topic not in IMPORT_TOPICS or (self._ends and logged.position <= self._ends[-1]):
            return
        event = logged.event
        top = max([*(event.marks or {}).values(), *self._offsets[-1:], 0])
        for table, text in (getattr(event, "change_ids", None) or {}).items():
            pairs = IdPairs.decode(text)
            self._tables.setdefault(table, PairIndex()).add(pairs)
            top = max(top, max(pairs.seconds, default=0))
        self._ends.append(logged.position)
        self._offsets.append(top)

    def _offset(self, position: int) -> int:
        """The offset of the import covering ``position`` (the last one after them all)."""
        if not self._ends:
            return 0
        return self._offsets[min(bisect_left(self._ends, position), len(self._ends) - 1)]

    def of(self, table: str, position: int) -> int:
        """The change_id of the event at ``position`` in ``table``'s history."""
        index = self._tables.get(table)
        found = index.second_of(position) if index is not None else None
        return found if found is not None else position + self._offset(position)

    def position(self, table: str, change_id: int) -> int | None:
        """The position of the event ``change_id`` names in ``table``'s history, if any."""
        imported = self._tables.get(table, PairIndex())
        found = imported.first_of(change_id)
        if found is not None:
            return found
        for at, offset in enumerate(self._offsets or [0]):
            position = change_id - offset
            low = self._ends[at - 1] if at else 0
            last = at == len(self._ends) - 1 or not self._ends
            high = None if last else self._ends[at]
            if (
                position > low
                and (high is None or position <= high)
                and not imported.has_first(position)
            ):
                return position
        return None

    def rows(self, table: str, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """History rows whose ``change_id`` is a position, with Balrog's ids instead."""
        return [{**row, "change_id": self.of(table, row["change_id"])} for row in rows]
