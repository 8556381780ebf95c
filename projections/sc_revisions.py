"""Scheduled-change revisions as Balrog's ``*_scheduled_changes_history`` lists them.

Balrog writes a history row for a scheduled change when it is scheduled,
modified (by its owner or by a direct edit merged into it) and enacted; a
signoff lives in another table and makes no revision, and a cancellation is
a deletion, whose history row Balrog's revisions route filters out. Here the
same steps are events, so the fold records, after each, the change as it
then stood. ``change_id`` is the event's position in the log (unique and
increasing, like Balrog's history ids); ``timestamp`` is milliseconds since
the epoch; ``changed_by`` is who Balrog records: the scheduler or modifier,
and for merged edits and enactment the change's owner (Balrog runs both as
``scheduled_by``).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from rulelog.domain.workflow.scheduling import ScheduledChange
from rulelog.projections.log import LoggedEvent
from rulelog.projections.state import Catalog

__all__ = ["ScRevision", "ScRevisions"]

#: The events that make a revision, and whether the change's owner is the one recorded.
_REVISING: dict[type, bool] = {
    ScheduledChange.Created: True,
    ScheduledChange.Modified: False,
    ScheduledChange.Rebased: True,
    ScheduledChange.Enacted: True,
}

#: The catalogue columns a revision keeps (signoffs are not part of Balrog's history).
_KEPT = (
    "sc_id",
    "kind",
    "change_type",
    "target",
    "row",
    "base_data_version",
    "condition",
    "scheduled_by",
    "status",
    "data_version",
)


@dataclass(frozen=True)
class ScRevision:
    """One stored state of a scheduled change: its catalogue row and who made it."""

    change_id: int
    changed_by: str | None
    timestamp: int
    state: dict[str, Any]


class ScRevisions:
    """Every revision of every scheduled change, by (kind, sc_id) and by change_id."""

    def __init__(self) -> None:
        self._by_change: dict[tuple[str, int], list[ScRevision]] = {}
        self._by_id: dict[int, ScRevision] = {}
        self._keys: dict[UUID, tuple[str, int]] = {}

    def record(self, logged: LoggedEvent, catalog: Catalog) -> None:
        """Note the change as ``logged`` (already applied to ``catalog``) left it."""
        event = logged.event
        owner_recorded = _REVISING.get(type(event))
        if owner_recorded is None:
            return
        if isinstance(event, ScheduledChange.Created):
            self._keys[logged.originator_id] = (event.kind, event.sc_id)
        key = self._keys.get(logged.originator_id)
        row = catalog.scheduled.get(key) if key is not None else None
        if row is None:
            return
        state = {name: copy.deepcopy(row.get(name)) for name in _KEPT}
        changed_by = row["scheduled_by"] if owner_recorded else getattr(event, "changed_by", None)
        revision = ScRevision(
            change_id=logged.position,
            changed_by=changed_by,
            timestamp=int(event.timestamp.timestamp() * 1000),
            state=state,
        )
        self._by_change.setdefault((row["kind"], row["sc_id"]), []).append(revision)
        self._by_id[revision.change_id] = revision

    def of(self, kind: str, sc_id: int) -> list[ScRevision]:
        """Revisions newest first (Balrog orders by timestamp, descending)."""
        found = list(self._by_change.get((kind, sc_id), ()))
        return sorted(found, key=lambda r: (r.timestamp, r.change_id), reverse=True)

    def change(self, change_id: int) -> ScRevision | None:
        return self._by_id.get(change_id)
