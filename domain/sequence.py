"""Integer id allocation inside the store's own transactions.

Balrog exposes integer ids (rule_id, later sc_id). rulelog allocates them from
a per-kind ``Sequence`` aggregate saved in the same atomic save as the
aggregate that takes the id: two concurrent creators both try to write the
sequence's next version, the store lets exactly one through, and the other
retries with a fresh read. No id is ever handed out twice.
"""

from __future__ import annotations

from eventsourcing.domain import Aggregate, event

from rulelog.domain import ids


class Sequence(Aggregate):
    TOPIC = "rulelog:sequence"

    create_id = staticmethod(ids.sequence_id)

    @event("Created", topic="rulelog:sequence.created")
    def __init__(self, name: str) -> None:
        self.name = name
        self.value = 0

    def allocate(self) -> int:
        """Hand out the next integer."""
        self._advance(self.value + 1)
        return self.value

    def reserve_up_to(self, value: int) -> None:
        """Make sure ids up to ``value`` (taken by an import) are never allocated."""
        if value > self.value:
            self._advance(value)

    @event("Advanced", topic="rulelog:sequence.advanced")
    def _advance(self, value: int) -> None:
        self.value = value
