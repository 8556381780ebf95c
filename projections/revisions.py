"""Rule revisions as Balrog's ``rules_history`` lists them, kept while folding.

Balrog's public ``/api/v1/rules/<id>/revisions`` reads a history table;
here every rule event already is a revision, so the fold that keeps the
serving index current records, after each rule event, the rule as it then
stood. ``change_id`` is the event's position in the log (unique and
increasing, as Balrog's history ids are); ``timestamp`` is milliseconds
since the epoch, as Balrog stores it. Deletions are not listed (Balrog
filters its deletion rows out by their NULL data_version).
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from domain.rule_fields import RULE_FIELDS
from domain.rules import Rule
from projections.log import LoggedEvent
from projections.state import Catalog

__all__ = ["RuleRevisions", "balrog_rule"]


def balrog_rule(row: dict[str, Any]) -> dict[str, Any]:
    """A catalog rule row with every Balrog column, in Balrog's column order."""
    return {**{name: row.get(name) for name in RULE_FIELDS}, "data_version": row["data_version"]}


class RuleRevisions:
    """Every stored state of every rule, by rule_id, oldest first."""

    def __init__(self) -> None:
        self._rule_ids: dict[UUID, int] = {}
        self._revisions: dict[int, list[dict[str, Any]]] = {}

    def record(self, logged: LoggedEvent, catalog: Catalog) -> None:
        """Note the rule as ``logged`` (already applied to ``catalog``) left it."""
        event = logged.event
        if isinstance(event, Rule.Created):
            self._rule_ids[logged.originator_id] = event.rule_id
        rule_id = self._rule_ids.get(logged.originator_id)
        row = catalog.rules.get(rule_id) if rule_id is not None else None
        if row is None or isinstance(event, Rule.Deleted):
            return
        revision = {
            **balrog_rule(row),
            "change_id": logged.position,
            "changed_by": getattr(event, "changed_by", None),
            "timestamp": int(event.timestamp.timestamp() * 1000),
        }
        self._revisions.setdefault(rule_id, []).append(revision)

    def of(self, rule_id: int) -> list[dict[str, Any]]:
        """Revisions newest first (Balrog orders by timestamp, descending)."""
        revisions = list(self._revisions.get(rule_id, ()))
        return sorted(revisions, key=lambda r: (r["timestamp"], r["change_id"]), reverse=True)
