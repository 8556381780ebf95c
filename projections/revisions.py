"""Rule revisions as Balrog's ``rules_history`` lists them, kept while folding.

Balrog's public ``/api/v1/rules/<id>/revisions`` reads a history table;
here every rule event already is a revision, so the fold that keeps the
serving index current records, after each rule event, the rule as it then
stood. ``change_id`` is the event's position in the log (unique and
increasing, as Balrog's history ids are); ``timestamp`` is milliseconds
since the epoch, as Balrog stores it. Deletions are not listed (Balrog
filters its deletion rows out by their NULL data_version).

A serving node that started from a checkpoint has folded only the events
after it: rules created before it have their revisions read from the store
when asked for (``stored_revisions``: the rule's own events, a short read).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import UUID

from eventsourcing.persistence import StoredEvent
from sqlalchemy import select

from rulelog.domain import ids
from rulelog.domain.catalog.rule_fields import RULE_FIELDS
from rulelog.domain.catalog.rules import Rule
from rulelog.projections.log import LoggedEvent, decode, read_notifications
from rulelog.projections.state import Catalog

#: Reads a rule's revisions from the store: rule_id -> revisions, oldest first.
RevisionLoader = Callable[[int], list[dict[str, Any]]]

__all__ = ["RuleRevisions", "balrog_rule", "stored_revisions"]


def balrog_rule(row: dict[str, Any]) -> dict[str, Any]:
    """A catalog rule row with every Balrog column, in Balrog's column order."""
    return {**{name: row.get(name) for name in RULE_FIELDS}, "data_version": row["data_version"]}


class RuleRevisions:
    """Every stored state of every rule, by rule_id, oldest first."""

    def __init__(self, since: int = 0, loader: RevisionLoader | None = None) -> None:
        #: Events up to this position were not folded here (a start from a checkpoint):
        #: rules that existed then have their revisions read by ``loader``.
        self.since = since
        self.loader = loader
        self._rule_ids: dict[UUID, int] = {}
        self._revisions: dict[int, list[dict[str, Any]]] = {}
        self._created: set[int] = set()
        self._until = since

    def record(self, logged: LoggedEvent, catalog: Catalog) -> None:
        """Note the rule as ``logged`` (already applied to ``catalog``) left it."""
        event = logged.event
        self._until = logged.position
        if isinstance(event, Rule.Created):
            self._rule_ids[logged.originator_id] = event.rule_id
            self._created.add(event.rule_id)
        rule_id = self._rule_ids.get(logged.originator_id)
        row = catalog.rules.get(rule_id) if rule_id is not None else None
        if row is None or isinstance(event, Rule.Deleted):
            return
        self._revisions.setdefault(rule_id, []).append(revision_of(row, logged))

    def of(self, rule_id: int) -> list[dict[str, Any]]:
        """Revisions newest first (Balrog orders by timestamp, descending)."""
        if self.since and rule_id not in self._created and self.loader is not None:
            until = max(self._until, self.since)
            revisions = [r for r in self.loader(rule_id) if r["change_id"] <= until]
        else:
            revisions = list(self._revisions.get(rule_id, ()))
        return sorted(revisions, key=lambda r: (r["timestamp"], r["change_id"]), reverse=True)


def revision_of(row: dict[str, Any], logged: LoggedEvent) -> dict[str, Any]:
    event = logged.event
    return {
        **balrog_rule(row),
        "change_id": logged.position,
        "changed_by": getattr(event, "changed_by", None),
        "timestamp": int(event.timestamp.timestamp() * 1000),
    }


def stored_revisions(app: Any, rule_id: int) -> list[dict[str, Any]]:
    """Every revision of one rule, from its own events in the store (oldest first).

    The SQLAlchemy recorders are asked for that aggregate's rows only (with
    their positions); any other store is scanned for them.
    """
    originator = ids.rule_id(rule_id)
    record_cls = getattr(app.recorder, "events_record_cls", None)
    if record_cls is not None:
        query = (
            select(record_cls)
            .where(record_cls.originator_id == originator)
            .order_by(record_cls.originator_version)
        )
        with app.recorder.transaction(commit=False) as session:
            rows = [
                (r.id, StoredEvent(r.originator_id, r.originator_version, r.topic, bytes(r.state)))
                for r in session.scalars(query)
            ]
        events = [
            LoggedEvent(
                position,
                stored.topic,
                stored.originator_id,
                stored.originator_version,
                app.mapper.to_domain_event(stored),
            )
            for position, stored in rows
        ]
    else:  # pragma: no cover - the POPO store, in no deployment
        events = [decode(app, n) for n in read_notifications(app) if n.originator_id == originator]
    catalog, revisions = Catalog(), []
    for logged in events:
        catalog.apply(logged)
        row = catalog.rules.get(rule_id)
        if row is not None and not isinstance(logged.event, Rule.Deleted):
            revisions.append(revision_of(row, logged))
    return revisions
