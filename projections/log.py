"""Reading the notification log: positions and decoded domain events.

A position is a notification id, the store's global order. Every projection
reads the log through here, in pages, so the page size and the decoding
live in one place.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.application import Application

PAGE = 1000


@dataclass(frozen=True)
class LoggedEvent:
    """One domain event at its position in the log."""

    position: int
    topic: str
    originator_id: UUID
    originator_version: int
    event: Any

    @property
    def timestamp(self) -> datetime:
        return self.event.timestamp

    @property
    def actor(self) -> str | None:
        """Who did it: the editor, the scheduler, the enacting identity or the signer."""
        for attribute in ("changed_by", "scheduled_by", "enacted_by", "username"):
            value = getattr(self.event, attribute, None)
            if isinstance(value, str):
                return value
        return None


def read_log(app: Application, start: int = 1, stop: int | None = None) -> Iterator[LoggedEvent]:
    """Decoded events from position ``start`` up to and including ``stop``."""
    position = start
    while True:
        page = app.recorder.select_notifications(start=position, limit=PAGE, stop=stop)
        if not page:
            return
        for notification in page:
            yield LoggedEvent(
                position=notification.id,
                topic=notification.topic,
                originator_id=notification.originator_id,
                originator_version=notification.originator_version,
                event=app.mapper.to_domain_event(notification),
            )
        position = page[-1].id + 1
        if len(page) < PAGE:
            return


def last_position(app: Application) -> int:
    return app.recorder.max_notification_id() or 0
