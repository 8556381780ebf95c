"""Reading the notification log: positions and decoded domain events.

A position is a notification id, the store's global order. Every projection
reads the log through here, in pages, so the page size and the decoding
live in one place.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.persistence import Notification

PAGE = 1000
#: The fields that name who caused an event, in the order they are looked for.
ACTOR_FIELDS = ("changed_by", "scheduled_by", "enacted_by", "issued_by", "revoked_by", "created_by")
#: Events whose ``username`` is whom they are about, never who acted.
SUBJECT_IS_USERNAME = frozenset(
    {
        "rulelog:api-token.issued",
        "rulelog:user.created",
        "rulelog:role-roster.joined",
        "rulelog:role-roster.left",
    }
)


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
        """Who did it: the editor, the scheduler, the enacting identity, the issuer or
        revoker of a token, or the signer. Never the subject in the actor's place: a
        token's owner, a created user or a role's new holder (``username`` there) is
        not who acted; events stored before they recorded the actor have none."""
        for attribute in ACTOR_FIELDS:
            value = getattr(self.event, attribute, None)
            if isinstance(value, str):
                return value
        if self.topic in SUBJECT_IS_USERNAME:
            return None
        value = getattr(self.event, "username", None)  # a signoff's signer
        return value if isinstance(value, str) else None


def read_log(
    app: Application, start: int = 1, stop: int | None = None, topics: Sequence[str] = ()
) -> Iterator[LoggedEvent]:
    """Decoded events from position ``start`` up to and including ``stop``.

    ``topics`` (when given) selects only events of those topics in the store's
    query, so a reader that ignores most kinds of event (a fold that skips
    the index aggregates) neither transfers nor decodes them.
    """
    for notification in read_notifications(app, start, stop, topics):
        yield decode(app, notification)


def read_notifications(
    app: Application, start: int = 1, stop: int | None = None, topics: Sequence[str] = ()
) -> Iterator[Notification]:
    """The stored, still encoded events from ``start`` up to and including ``stop``,
    for a reader that decodes only some of them (see ``decode``)."""
    position = start
    while True:
        page = app.recorder.select_notifications(
            start=position, limit=PAGE, stop=stop, topics=topics
        )
        if not page:
            return
        yield from page
        position = page[-1].id + 1
        if len(page) < PAGE:
            return


def read_aggregate(
    app: Application, originator_id: UUID, topics: Sequence[str], stop: int | None = None
) -> Iterator[LoggedEvent]:
    """The decoded events of one aggregate (of ``topics``: all its events may have)
    up to position ``stop``, in log order.

    A store whose recorder selects by aggregate (``select_aggregate_notifications``:
    the SQL stores, through their index on the aggregate's id) reads only those
    rows; any other reads the events of ``topics`` and keeps the aggregate's.
    """
    select = getattr(app.recorder, "select_aggregate_notifications", None)
    if select is None:
        found: Iterator[Notification] = (
            n
            for n in read_notifications(app, stop=stop, topics=topics)
            if n.originator_id == originator_id
        )
    else:
        found = iter(select(originator_id, stop))
    for notification in found:
        yield decode(app, notification)


def read_positions(
    app: Application, start: int, stop: int, wanted: Collection[str]
) -> Iterator[Notification | tuple[int, bytes]]:
    """Every position from ``start`` to ``stop``: the notification of an event of a
    ``wanted`` topic, ``(position, stored state)`` for any other (whose time
    alone a reader needs: ``time_of``).

    A store whose recorder reads positions so (``select_positions``: the SQL
    stores) makes nothing for the others; any other store's notifications are
    cut down here.
    """
    select_positions = getattr(app.recorder, "select_positions", None)
    if select_positions is None:
        for notification in read_notifications(app, start, stop):
            wanted_one = notification.topic in wanted
            yield notification if wanted_one else (notification.id, notification.state)
        return
    position = start
    while True:
        page = select_positions(position, PAGE, stop, wanted)
        if not page:
            return
        yield from page
        last = page[-1]
        position = (last.id if isinstance(last, Notification) else last[0]) + 1
        if len(page) < PAGE:
            return


def decode(app: Application, notification: Notification) -> LoggedEvent:
    return LoggedEvent(
        position=notification.id,
        topic=notification.topic,
        originator_id=notification.originator_id,
        originator_version=notification.originator_version,
        event=app.mapper.to_domain_event(notification),
    )


_TIMESTAMP = b'{"timestamp":{"_type_":"datetime_iso","_data_":"'


def timestamp_of(app: Application, notification: Notification) -> datetime:
    """An event's timestamp, without decoding the rest of it where the store allows.

    ``eventsourcing``'s JSON transcoder writes the timestamp first; when the
    stored state is compressed or encrypted, or written otherwise, it is
    decoded in full.
    """
    found = _written_time(notification.state)
    return found if found is not None else decode(app, notification).timestamp


def time_of(app: Application, position: int, state: bytes) -> datetime:
    """``timestamp_of`` the event at ``position`` whose stored state is ``state``
    (read in full only where the time cannot be read off the state)."""
    found = _written_time(state)
    if found is not None:
        return found
    (notification,) = app.recorder.select_notifications(start=position, limit=1, stop=position)
    return decode(app, notification).timestamp


def _written_time(state: bytes) -> datetime | None:
    if state.startswith(_TIMESTAMP):
        end = state.find(b'"', len(_TIMESTAMP))
        try:
            return datetime.fromisoformat(state[len(_TIMESTAMP) : end].decode())
        except ValueError:
            pass
    return None


def last_position(app: Application) -> int:
    return app.recorder.max_notification_id() or 0
