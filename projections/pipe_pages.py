"""How a page of events crosses the pipe from a rebuild's reading process.

The folding process is the rebuild's slower half, and loading the pages it
receives was its largest single cost. A page is sent *flat*: each event as the
index of its class in the page's list of topics and its fields, the originator
id as its integer; that is builtin data, which ``marshal`` writes and reads in
C, without ``pickle``'s lookups of classes and reductions per object. On 400k
positions of a 100k-rule log: pickling 1.1-1.3 s, unpickling 1.4-1.5 s;
marshalling 0.6 s, loading and remaking the events 0.8-1.0 s. A page whose
fields hold anything else (an event with a datetime or a UUID of its own) is
pickled, flat all the same, so either way it loads into the same events.
"""

from __future__ import annotations

import marshal
import pickle
from typing import Any
from uuid import UUID, SafeUUID

from eventsourcing.utils import get_topic, resolve_topic

#: First byte of a page: its flat form marshalled, or pickled.
_MARSHALLED = b"m"
_PICKLED = b"p"
_MARSHAL_VERSION = 4

#: One position: (position, the event or None, recorded time in microseconds).
Position = tuple[int, Any, int]


def pack(page: list[Position] | str | None) -> bytes:
    """A page's bytes; an error's text, or None (the end), pickled as it is.

    The events are the reading process's own and taken apart here: their
    fields go into the page as they are (the originator id replaced by its
    integer), so they must not be used afterwards.
    """
    if not isinstance(page, list):
        return _PICKLED + pickle.dumps(page, pickle.HIGHEST_PROTOCOL)
    flat = _flat(page)
    try:
        return _MARSHALLED + marshal.dumps(flat, _MARSHAL_VERSION)
    except ValueError:  # a field marshal cannot write
        return _PICKLED + pickle.dumps(flat, pickle.HIGHEST_PROTOCOL)


def unpack(data: bytes) -> list[Position] | str | None:
    """What ``pack`` was given, the events remade (equal to those taken apart)."""
    body = memoryview(data)[1:]
    loaded = marshal.loads(body) if data[:1] == _MARSHALLED else pickle.loads(body)
    if not isinstance(loaded, tuple):
        return loaded  # type: ignore[no-any-return]
    topics, rows = loaded
    classes = [resolve_topic(topic) for topic in topics]
    new, assign, unknown = object.__new__, object.__setattr__, SafeUUID.unknown
    page: list[Position] = []
    for position, packed, moment in rows:
        if packed is None:
            page.append((position, None, moment))
            continue
        index, fields = packed
        originator = new(UUID)  # what UUID(int=...) makes, without its checks
        assign(originator, "int", fields["originator_id"])
        assign(originator, "is_safe", unknown)
        fields["originator_id"] = originator
        event = new(classes[index])
        assign(event, "__dict__", fields)
        page.append((position, event, moment))
    return page


def _flat(page: list[Position]) -> tuple[list[str], list[tuple[int, Any, int]]]:
    indices: dict[type, int] = {}
    topics: list[str] = []
    rows: list[tuple[int, Any, int]] = []
    for position, event, moment in page:
        if event is None:
            rows.append((position, None, moment))
            continue
        kind = type(event)
        index = indices.get(kind)
        if index is None:
            index = indices[kind] = len(topics)
            topics.append(get_topic(kind))
        fields = vars(event)
        fields["originator_id"] = fields["originator_id"].int
        rows.append((position, (index, fields), moment))
    return topics, rows
