"""The ``Rule`` aggregate: one Balrog rule and its whole history.

``data_version`` is the aggregate's version, so optimistic concurrency comes
from the event store itself. Field validation happens in the command methods
(``create``, ``update``), never in the event-applying methods, so stored
events always replay even after the validation rules tighten.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from eventsourcing.domain import Aggregate, event

from rulelog.domain import ids
from rulelog.domain.catalog.recreatable import Deletable, Deletion
from rulelog.domain.catalog.rule_fields import RULE_FIELDS, normalize_rule
from rulelog.domain.errors import Invalid

#: The columns of a rule other than its id, in Balrog's order.
RULE_COLUMNS: tuple[str, ...] = tuple(f for f in RULE_FIELDS if f != "rule_id")

#: Columns that name a release, so the release cannot be deleted under them.
MAPPING_COLUMNS: tuple[str, ...] = ("mapping", "fallbackMapping")


class Rule(Deletable):
    TOPIC = "rulelog:rule"
    KEY_COLUMNS = ("rule_id",)
    NOT_FOUND = "rule {rule_id} does not exist"

    class Deleted(Deletion):
        TOPIC = "rulelog:rule.deleted"

    create_id = staticmethod(ids.rule_id)

    @classmethod
    def create(
        cls, rule_id: int, fields: Mapping[str, Any], changed_by: str, *, admin_api: bool = False
    ) -> Rule:
        """Validate a complete rule as Balrog would and open its history.

        ``admin_api`` applies the checks Balrog's admin API makes of what a
        client sends (a mapping is required, ...); an import of stored rows
        checks only what a stored rule may hold.
        """
        if not isinstance(rule_id, int) or isinstance(rule_id, bool) or rule_id < 1:
            raise Invalid(f"rule_id: must be a positive integer, got {rule_id!r}", field="rule_id")
        proposed = {k: v for k, v in fields.items() if k not in ("rule_id", "data_version")}
        normalized = normalize_rule(proposed, admin_api=admin_api)
        return cls(rule_id=rule_id, fields=normalized, changed_by=changed_by)

    @event("Created", topic="rulelog:rule.created")
    def __init__(self, rule_id: int, fields: dict[str, Any], changed_by: str) -> None:
        self.rule_id = rule_id
        self.fields = dict(fields)

    @property
    def alias(self) -> str | None:
        return self.fields.get("alias")

    def mapped_releases(self) -> set[str]:
        return {self.fields[c] for c in MAPPING_COLUMNS if self.fields.get(c)}

    def diff(self, proposed: Mapping[str, Any]) -> dict[str, Any]:
        """The validated subset of ``proposed`` that differs from the rule now.

        What the client sent is checked as Balrog's admin API checks it; the
        merged rule only as a stored rule, so an old rule with a field the
        API would no longer accept stays editable in its other fields.
        """
        candidate = {k: v for k, v in proposed.items() if k not in ("rule_id", "data_version")}
        normalized = normalize_rule(candidate, partial=True)
        changed = [k for k, v in normalized.items() if v != self.fields.get(k)]
        normalize_rule({k: candidate[k] for k in changed}, partial=True, admin_api=True)
        merged = normalize_rule({**self.fields, **{k: normalized[k] for k in changed}})
        return {k: merged[k] for k in changed if merged[k] != self.fields.get(k)}

    def update(self, proposed: Mapping[str, Any], changed_by: str) -> dict[str, Any]:
        """Record the fields that change.

        An edit that changes nothing is still recorded (with no changes): Balrog
        bumps ``data_version`` on every accepted update, and its clients send the
        ``new_data_version`` they were given with their next request.
        """
        self.require_live()
        changes = self.diff(proposed)
        self._record_update(changes=changes, changed_by=changed_by)
        return changes

    @event("Updated", topic="rulelog:rule.updated")
    def _record_update(self, changes: dict[str, Any], changed_by: str) -> None:
        self.fields.update(changes)

    def as_balrog(self) -> dict[str, Any]:
        """The rule as Balrog's APIs show it, ``data_version`` included."""
        return {"rule_id": self.rule_id, **self.fields, "data_version": self.data_version}


class AliasClaim(Aggregate):
    """Makes rule aliases unique: the claim and the rule are saved together."""

    TOPIC = "rulelog:rule-alias"

    create_id = staticmethod(ids.alias_id)

    @event("Created", topic="rulelog:rule-alias.created")
    def __init__(self, alias: str, rule_id: int) -> None:
        self.alias = alias
        self.rule_id: int | None = rule_id

    @event("Claimed", topic="rulelog:rule-alias.claimed")
    def claim(self, rule_id: int) -> None:
        self.rule_id = rule_id

    @event("Released", topic="rulelog:rule-alias.released")
    def release(self) -> None:
        self.rule_id = None


#: The id sequence rule ids are allocated from (``domain.sequence``).
RULE_SEQUENCE = "rules"


def rule_ref(rule_id: int) -> str:
    """How a rule is named in a release's usage index."""
    return f"rule {rule_id}"
