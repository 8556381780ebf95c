"""One base for Balrog rows that are deleted and (some of them) created again.

A rule, a release, an emergency shutoff and a pin are rows that exist or not.
Balrog lets a release, a shutoff or a pin be deleted and later created again
under the same key, with ``data_version`` starting again at 1. The aggregate
keeps one stream per key and counts ``data_version`` from the latest
(re)creation, so the whole life of a key stays in one stream while the API
sees Balrog's numbers.

Each kind keeps its own event classes, with their own ``TOPIC`` strings and
fields (stored events are read by topic, so those never change); a kind's
``Deleted`` event is a :class:`Deletion` and its ``Recreated`` event
:class:`Recreation`, which say how the event applies. The base holds the
commands and the bookkeeping every such row shares.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from eventsourcing.domain import Aggregate

from rulelog.domain.errors import NotFound

#: The fields every event has; the others of a ``Recreated`` event are the row's own.
_EVENT_FIELDS = frozenset(f.name for f in dataclasses.fields(Aggregate.Event))


class Deletion(Aggregate.Event):
    """A kind's ``Deleted`` event subclasses this and adds only its ``TOPIC``:
    it says who deleted the row, and applying it marks the row deleted."""

    changed_by: str

    def apply(self, aggregate: Any) -> None:
        aggregate.deleted = True


class Recreation:
    """Mixed into a kind's ``Recreated`` event: the row lives again with the
    event's fields (other than ``changed_by``) as its attributes, and the
    event itself is ``data_version`` 1."""

    def apply(self, aggregate: Any) -> None:
        for field in dataclasses.fields(self):  # type: ignore[arg-type]
            if field.name not in _EVENT_FIELDS and field.name != "changed_by":
                setattr(aggregate, field.name, getattr(self, field.name))
        aggregate.deleted = False
        aggregate._base_version = aggregate.version
        aggregate.after_recreation()


class Deletable(Aggregate):
    """A row that is deleted by an event and then answers "not found".

    Subclasses define ``Deleted`` (a :class:`Deletion`) and name their columns
    below (or override what they use them for). No class annotations here:
    eventsourcing would make them dataclass fields.
    """

    #: A row is live from its creation until a ``Deletion`` (or after a ``Recreation``).
    deleted = False
    #: How many stream versions came before the latest (re)creation.
    _base_version = 0
    #: The row's columns as Balrog shows them, in its order (``data_version`` follows).
    BALROG_COLUMNS = ()
    #: The columns that name the row, and the "not found" message they fill in.
    KEY_COLUMNS = ()
    NOT_FOUND = ""

    @property
    def data_version(self) -> int:
        return self.version - self._base_version

    def column(self, name: str) -> Any:
        """A column's value: the attribute of that name unless a kind says otherwise."""
        return getattr(self, name)

    def not_found(self) -> NotFound:
        """The error for a request that needs this row while it is deleted."""
        key = {c: self.column(c) for c in self.KEY_COLUMNS}
        return NotFound(self.NOT_FOUND.format(**key), **key)

    def as_balrog(self) -> dict[str, Any]:
        """The row as Balrog's APIs show it, ``data_version`` included."""
        row = {c: self.column(c) for c in self.BALROG_COLUMNS}
        return {**row, "data_version": self.data_version}

    def require_live(self) -> None:
        if self.deleted:
            raise self.not_found()

    def check_deletable(self) -> None:
        """Refuse a deletion the row does not allow (by default: when already gone)."""
        self.require_live()

    def delete(self, changed_by: str) -> None:
        self.check_deletable()
        self.trigger_event(type(self).Deleted, changed_by=changed_by)  # type: ignore[attr-defined]


class Recreatable(Deletable):
    """A deletable row that can be created again under the same key.

    Subclasses also define ``Recreated`` (mixing in :class:`Recreation`) with
    the fields a re-creation sets.
    """

    def recreate(self, changed_by: str, **fields: Any) -> None:
        """Bring a deleted row back with ``fields`` (the ``Recreated`` event's)."""
        self.trigger_event(
            type(self).Recreated,  # type: ignore[attr-defined]
            changed_by=changed_by,
            **fields,
        )

    def after_recreation(self) -> None:
        """Hook: derive what the recreated fields imply (by default nothing)."""
