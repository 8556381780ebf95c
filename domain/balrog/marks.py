"""``BalrogImport``: the record that a store was made from a Balrog database.

It holds the high-water marks (the last ``change_id`` imported from each
history table), so ``import-balrog --since-last`` appends exactly the history
rows Balrog wrote since, and it is what marks a store as made by an import
(a catch-up into any other store is refused). Its events are saved with the
history they account for, in the same write, and name the Balrog ``change_id``
of each imported history row by the log position of the event that records it
(``change_ids``: table -> ``IdPairs`` of (position, change_id), in their stored
text form, see ``id_pairs``), which Balrog's
history routes answer (``projections.change_ids``). Events stored before they
carried it have none.
"""

from __future__ import annotations

from typing import Any

from eventsourcing.domain import Aggregate, event

from rulelog.domain import ids


class BalrogImport(Aggregate):
    TOPIC = "rulelog:balrog-import"

    class Recorded(Aggregate.Event):
        """What the import and each catch-up record: the marks reached, by whom, the summary.
        Never stored itself; a topic all the same, as every event class must have one."""

        TOPIC = "rulelog:balrog-import.recorded"
        marks: dict[str, int]
        imported_by: str
        summary: dict[str, Any]

    class Created(Aggregate.Created, Recorded):
        TOPIC = "rulelog:balrog-import.imported"
        source: str
        change_ids: dict[str, str] | None = None

    class CaughtUp(Recorded):
        TOPIC = "rulelog:balrog-import.caught-up"
        change_ids: dict[str, str] | None = None

    create_id = staticmethod(ids.balrog_import_id)

    @event(Created)
    def __init__(
        self,
        source: str,
        marks: dict[str, int],
        imported_by: str,
        summary: dict[str, Any],
        change_ids: dict[str, str] | None = None,
    ) -> None:
        self.source = source
        self.marks = dict(marks)

    @event(CaughtUp)
    def catch_up(
        self,
        marks: dict[str, int],
        imported_by: str,
        summary: dict[str, Any],
        change_ids: dict[str, str] | None = None,
    ) -> None:
        self.marks = {**self.marks, **marks}
