"""``EmergencyShutoff``: stops all updates for a product on a channel.

Like Balrog's emergency_shutoffs table, a shutoff is a row keyed by
(product, channel) that exists or not, and can be created again
(``domain.catalog.recreatable``).
"""

from __future__ import annotations

from typing import Any

from eventsourcing.domain import Aggregate, event

from rulelog.domain import ids
from rulelog.domain.catalog.recreatable import Deletion, Recreatable, Recreation
from rulelog.domain.errors import NotFound


class EmergencyShutoff(Recreatable):
    TOPIC = "rulelog:emergency-shutoff"

    class Recreated(Recreation, Aggregate.Event):
        TOPIC = "rulelog:emergency-shutoff.recreated"
        comment: str | None
        changed_by: str

    class Deleted(Deletion, Aggregate.Event):
        TOPIC = "rulelog:emergency-shutoff.deleted"
        changed_by: str

    create_id = staticmethod(ids.shutoff_id)

    @event("Created", topic="rulelog:emergency-shutoff.created")
    def __init__(self, product: str, channel: str, comment: str | None, changed_by: str) -> None:
        self.product = product
        self.channel = channel
        self.comment = comment
        self.deleted = False
        self._base_version = 0

    def not_found(self) -> NotFound:
        return NotFound(
            f"no emergency shutoff for {self.product} on {self.channel}",
            product=self.product,
            channel=self.channel,
        )

    def as_balrog(self) -> dict[str, Any]:
        return {
            "product": self.product,
            "channel": self.channel,
            "comment": self.comment,
            "data_version": self.data_version,
        }
