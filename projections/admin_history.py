"""Balrog's history tables, rebuilt from the log for the admin API's history routes.

Balrog keeps a ``*_history`` table beside each table: one row per change with
``change_id``, ``changed_by`` and ``timestamp`` (milliseconds) and the row as
the change left it; a deletion leaves a row holding only the key (its
``data_version`` NULL). Its ``/rules/history``, ``/permissions/history`` and
``/required_signoffs/*/history`` routes, and ``GET /rules?timestamp=``, read
those tables. Here each table is a list recorded while the admin reader folds
the log (``record`` runs after the event is applied to the catalogue), so the
answers need no second pass over the log. ``change_id`` is the event's
position, unique and increasing as Balrog's ids are.

Only the rows those routes can show are kept: a deletion is recorded for
rules alone (a point-in-time listing must see a rule disappear); the other
routes list rows with a ``data_version`` only. Scheduled changes' history is
``projections.sc_revisions``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from rulelog.domain.access.users import User
from rulelog.domain.catalog.rule_fields import RULE_FIELDS
from rulelog.domain.catalog.rules import Rule
from rulelog.domain.workflow.policies import KEY_COLUMNS, SignoffPolicies, policy_key
from rulelog.projections.log import LoggedEvent
from rulelog.projections.state import Catalog

__all__ = ["BalrogHistory", "millis"]

Row = dict[str, Any]

#: The policy columns of each kind, in Balrog's order (key columns, then the count).
POLICY_COLUMNS: dict[str, tuple[str, ...]] = {
    kind: (*KEY_COLUMNS[kind], "signoffs_required") for kind in ("product", "permissions")
}


def millis(moment: datetime) -> int:
    """A time as Balrog stores it: whole milliseconds since the epoch."""
    return int(moment.timestamp() * 1000)


class BalrogHistory:
    """Every history row of the tables the admin history routes read, oldest first."""

    def __init__(self) -> None:
        self.rules: list[Row] = []
        self.permissions: list[Row] = []
        self.policies: dict[str, list[Row]] = {"product": [], "permissions": []}
        self._rule_ids: dict[UUID, int] = {}
        self._usernames: dict[UUID, str] = {}

    def _stamp(self, logged: LoggedEvent) -> Row:
        return {
            "change_id": logged.position,
            "changed_by": logged.actor,
            "timestamp": millis(logged.timestamp),
        }

    def record(self, logged: LoggedEvent, catalog: Catalog) -> None:
        """Add the history row(s) ``logged`` (already applied to ``catalog``) writes."""
        event = logged.event
        if isinstance(event, Rule.Created | Rule.Updated | Rule.Deleted):
            self._rule(logged, catalog)
        elif isinstance(event, User.Created):
            self._usernames[logged.originator_id] = event.username
        elif isinstance(event, User.PermissionGranted | User.PermissionChanged):
            username = self._usernames.get(logged.originator_id)
            held = catalog.users.get(username or "", {}).get("permissions", {})
            found = held.get(event.permission)
            if username is not None and found is not None:
                row = {"permission": event.permission, "username": username}
                row |= {"options": found["options"], "data_version": found["data_version"]}
                self.permissions.append({**self._stamp(logged), **row})
        elif isinstance(event, SignoffPolicies.PolicySet):
            found = catalog.policies.get(event.kind, {}).get(policy_key(event.kind, event.row))
            if found is not None:
                row = {c: found.get(c) for c in POLICY_COLUMNS[event.kind]}
                row["data_version"] = found["data_version"]
                self.policies[event.kind].append({**self._stamp(logged), **row})

    def _rule(self, logged: LoggedEvent, catalog: Catalog) -> None:
        event = logged.event
        if isinstance(event, Rule.Created):
            self._rule_ids[logged.originator_id] = event.rule_id
        rule_id = self._rule_ids.get(logged.originator_id)
        if rule_id is None:
            return
        found = catalog.rules.get(rule_id)
        if isinstance(event, Rule.Deleted) or found is None:
            row: Row = {name: None for name in RULE_FIELDS} | {"data_version": None}
            row["rule_id"] = rule_id
        else:
            row = {name: found.get(name) for name in RULE_FIELDS}
            row["data_version"] = found["data_version"]
        self.rules.append({**self._stamp(logged), **row})
