"""The adapter every kind of Balrog row fills in, and the shared row life cycle.

An adapter knows how to find a row's current state, validate a new row, name
the permission checks and required signoffs, and *plan* the change: build the
touched aggregates without saving them. :meth:`Target.plan` dispatches on the
change type, so a kind writes only ``plan_insert`` / ``plan_update`` /
``plan_delete``; :class:`RowTarget` and :class:`RecreatableTarget` hold what
the kinds stored as one aggregate per row (``domain.catalog.recreatable``)
share: finding the live row, deleting it, creating it again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from uuid import UUID

from eventsourcing.domain import Aggregate

from rulelog.domain.access.permissions import UNSET
from rulelog.domain.catalog.recreatable import Deletable, Recreatable
from rulelog.domain.errors import Conflict, Invalid
from rulelog.domain.workflow.signoff_rules import Requirement

if TYPE_CHECKING:
    from rulelog.services.app_base import AppBase

VERBS = {"insert": "create", "update": "modify", "delete": "delete"}


@dataclass
class Current:
    """A target row as it is now: Balrog-shaped row, data_version, aggregate."""

    row: dict[str, Any] | None
    data_version: int | None
    aggregate: Aggregate | None

    @property
    def exists(self) -> bool:
        return self.row is not None


ABSENT = Current(None, None, None)


def without_version(row: dict[str, Any]) -> dict[str, Any]:
    """The row's columns: ``data_version`` is the concurrency token, not a column."""
    return {k: v for k, v in row.items() if k != "data_version"}


class Target:
    """One kind of schedulable row. Subclasses fill in the specifics."""

    kind: str
    permission: str
    uptake_allowed = False
    change_types: tuple[str, ...] = ("insert", "update", "delete")

    def key(self, row: dict[str, Any]) -> str:
        raise NotImplementedError

    def current(self, app: AppBase, key: str) -> Current:
        raise NotImplementedError

    def normalize(self, change_type: str, row: dict[str, Any], current: Current) -> dict[str, Any]:
        raise NotImplementedError

    def products(self, current: Current, new: dict[str, Any] | None) -> tuple[Any, Any]:
        cur = current.row.get("product") if current.row else None
        return cur, (new.get("product") if new is not None else UNSET)

    def required(
        self, app: AppBase, current: Current, new: dict[str, Any] | None
    ) -> list[Requirement]:
        return []

    def plan(
        self,
        app: AppBase,
        change_type: str,
        current: Current,
        row: dict[str, Any] | None,
        changed_by: str,
    ) -> list[Aggregate]:
        """The aggregates the change touches, changed but not saved, so the caller
        saves them atomically with whatever else belongs to the same fact."""
        if change_type == "delete":
            return self.plan_delete(app, current, changed_by)
        assert row is not None
        if change_type == "insert":
            return self.plan_insert(app, row, changed_by)
        return self.plan_update(app, current, row, changed_by)

    def plan_insert(self, app: AppBase, row: dict[str, Any], changed_by: str) -> list[Aggregate]:
        raise NotImplementedError

    def plan_update(
        self, app: AppBase, current: Current, row: dict[str, Any], changed_by: str
    ) -> list[Aggregate]:
        raise NotImplementedError

    def plan_delete(self, app: AppBase, current: Current, changed_by: str) -> list[Aggregate]:
        raise NotImplementedError

    def change_name(self, change_type: str) -> str:
        return f"{self.permission}.{VERBS[change_type]}"

    def describe(self, key: str) -> str:
        return f"{self.kind} {key}"

    def restoring(self) -> Target:
        """The adapter for changes that bring back a prior row exactly as it was."""
        raise Invalid(f"restores: {self.kind} changes cannot restore a prior row", field="restores")

    def check_restores(
        self, app: AppBase, change_type: str, restores: Any, new: dict[str, Any] | None
    ) -> dict[str, Any]:
        """Verify that ``new`` is the prior row ``restores`` names; return the reference."""
        raise Invalid(f"restores: {self.kind} changes cannot restore a prior row", field="restores")


class RowTarget(Target):
    """A kind stored as one deletable aggregate per row."""

    aggregate_class: type[Deletable]

    def stream_id(self, key: str) -> UUID | None:
        """The aggregate id of the row this key names (None: it names no row)."""
        raise NotImplementedError

    def row_of(self, aggregate: Any) -> dict[str, Any]:
        """The Balrog-shaped row of a live aggregate."""
        return without_version(aggregate.as_balrog())

    def current(self, app: AppBase, key: str) -> Current:
        stream = self.stream_id(key)
        found = app.find(stream, self.aggregate_class) if stream is not None else None
        if found is None or found.deleted:
            return ABSENT
        return Current(self.row_of(found), found.data_version, found)

    def plan_delete(self, app: AppBase, current: Current, changed_by: str) -> list[Aggregate]:
        aggregate = current.aggregate
        assert isinstance(aggregate, self.aggregate_class)
        aggregate.delete(changed_by)
        return [aggregate]


class RecreatableTarget(RowTarget):
    """A kind whose deleted rows can be created again under the same key."""

    aggregate_class: type[Recreatable]

    def row_stream_id(self, row: dict[str, Any]) -> UUID:
        """The aggregate id of the (normalized) row being inserted."""
        raise NotImplementedError

    def taken(self, row: dict[str, Any]) -> Conflict:
        """The error for inserting a row that exists."""
        raise NotImplementedError

    def recreated_fields(self, row: dict[str, Any]) -> dict[str, Any]:
        """The fields of the kind's ``Recreated`` event, from the inserted row."""
        raise NotImplementedError

    def plan_create(self, app: AppBase, row: dict[str, Any], changed_by: str) -> list[Aggregate]:
        """The aggregates a first creation makes (by default just the row's)."""
        return [self.aggregate_class(**row, changed_by=changed_by)]

    def plan_insert(self, app: AppBase, row: dict[str, Any], changed_by: str) -> list[Aggregate]:
        stored = app.find(self.row_stream_id(row), self.aggregate_class)
        if stored is None:
            return self.plan_create(app, row, changed_by)
        if not stored.deleted:
            raise self.taken(row)
        stored.recreate(changed_by=changed_by, **self.recreated_fields(row))
        return [stored]
