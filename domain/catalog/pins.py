"""``PinnableRelease``: lets a client ask to stay on a version line.

A pin maps (product, channel, version prefix such as ``120.``) to the release
that clients sending ``pin=120.`` are held at. Same row life cycle as a
shutoff: exists or not, re-creation continues the stream.
"""

from __future__ import annotations

from typing import Any

from eventsourcing.domain import Aggregate, event

from rulelog.domain import ids
from rulelog.domain.catalog.recreatable import Deletion, Recreatable, Recreation


class PinnableRelease(Recreatable):
    TOPIC = "rulelog:pinnable-release"
    BALROG_COLUMNS = ("product", "channel", "version", "mapping")
    KEY_COLUMNS = ("product", "channel", "version")
    NOT_FOUND = "no pin {version} for {product} on {channel}"

    class Recreated(Recreation, Aggregate.Event):
        TOPIC = "rulelog:pinnable-release.recreated"
        mapping: str
        changed_by: str

    class Deleted(Deletion):
        TOPIC = "rulelog:pinnable-release.deleted"

    create_id = staticmethod(ids.pin_id)

    @event("Created", topic="rulelog:pinnable-release.created")
    def __init__(
        self, product: str, channel: str, version: str, mapping: str, changed_by: str
    ) -> None:
        self.product = product
        self.channel = channel
        # ``version`` is reserved by Aggregate for the stream version.
        self.pin_version = version
        self.mapping = mapping

    def column(self, name: str) -> Any:
        return self.pin_version if name == "version" else super().column(name)

    def change_mapping(self, mapping: str, changed_by: str) -> None:
        self.require_live()
        if mapping != self.mapping:
            self._record_mapping(mapping=mapping, changed_by=changed_by)

    @event("MappingChanged", topic="rulelog:pinnable-release.mapping-changed")
    def _record_mapping(self, mapping: str, changed_by: str) -> None:
        self.mapping = mapping
