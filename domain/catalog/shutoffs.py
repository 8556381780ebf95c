"""``EmergencyShutoff``: stops all updates for a product on a channel.

Like Balrog's emergency_shutoffs table, a shutoff is a row keyed by
(product, channel) that exists or not, and can be created again
(``domain.catalog.recreatable``). Balrog's API never edits a shutoff, but its
history table records edits of the ``comment`` made in its database; an
imported one is ``CommentChanged``, so the shutoff's past reads as Balrog's.
"""

from __future__ import annotations

from eventsourcing.domain import Aggregate, event

from rulelog.domain import ids
from rulelog.domain.catalog.recreatable import Deletion, Recreatable, Recreation


class EmergencyShutoff(Recreatable):
    TOPIC = "rulelog:emergency-shutoff"
    BALROG_COLUMNS = ("product", "channel", "comment")
    KEY_COLUMNS = ("product", "channel")
    NOT_FOUND = "no emergency shutoff for {product} on {channel}"

    class Recreated(Recreation, Aggregate.Event):
        TOPIC = "rulelog:emergency-shutoff.recreated"
        comment: str | None
        changed_by: str

    class Deleted(Deletion):
        TOPIC = "rulelog:emergency-shutoff.deleted"

    create_id = staticmethod(ids.shutoff_id)

    @event("Created", topic="rulelog:emergency-shutoff.created")
    def __init__(self, product: str, channel: str, comment: str | None, changed_by: str) -> None:
        self.product = product
        self.channel = channel
        self.comment = comment

    @event("CommentChanged", topic="rulelog:emergency-shutoff.comment-changed")
    def change_comment(self, comment: str | None, changed_by: str) -> None:
        self.comment = comment
