"""A release's revisions as Balrog's ``/releases/<name>/revisions`` listed them.

Balrog kept one history row per change of a release (its deletions had a NULL
data_version and were left out); here each event of the release's own stream
is such a row, read on demand (one indexed query), so nothing is held in
memory between requests. ``change_id`` is the event's position in the log,
``timestamp`` milliseconds since the epoch. ``state_at`` gives the release as
a revision left it, which is what a revert writes back.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from eventsourcing.application import Application

from rulelog.domain import ids
from rulelog.domain.catalog.release_parts import apply_parts
from rulelog.domain.catalog.releases import Release
from rulelog.projections.history import stream_of
from rulelog.projections.state import blob_sha

__all__ = ["ReleaseState", "annotate", "release_revisions", "state_at", "time_ago"]

#: Columns that change with every revision, so are never "different" (Balrog's history_keys).
_BOOKKEEPING = ("timestamp", "change_id", "data_version", "changed_by")
#: The release columns in Balrog's table order, as ``_different`` lists them.
_COLUMNS = ("name", "product", "read_only", "data")


@dataclass
class ReleaseState:
    """The release as one event left it."""

    name: str
    product: str
    read_only: bool
    blob: dict[str, Any]
    data_version: int


def _states(app: Application, name: str) -> list[tuple[Any, ReleaseState | None]]:
    """Each event of the release's stream with the state it left (None: deleted)."""
    state: ReleaseState | None = None
    out: list[tuple[Any, ReleaseState | None]] = []
    for logged in stream_of(app, ids.release_id(name)):
        ev = logged.event
        if isinstance(ev, (Release.Created, Release.Recreated)):
            state = ReleaseState(name, ev.product, ev.read_only, ev.blob, 1)
        elif isinstance(ev, Release.BlobReplaced) and state is not None:
            state = ReleaseState(name, ev.product, state.read_only, ev.blob, state.data_version + 1)
        elif isinstance(ev, Release.PartsChanged) and state is not None:
            blob = apply_parts(state.blob, ev.base, ev.parts)
            state = ReleaseState(name, ev.product, state.read_only, blob, state.data_version + 1)
        elif isinstance(ev, Release.ReadOnlyChanged) and state is not None:
            state = ReleaseState(
                name, state.product, ev.read_only, state.blob, state.data_version + 1
            )
        elif isinstance(ev, Release.Deleted):
            state = None
        else:
            continue
        out.append((logged, state))
    return out


def release_revisions(app: Application, name: str) -> list[dict[str, Any]]:
    """Every revision of ``name``, newest first; ``data`` is the blob's digest."""
    rows = []
    for logged, state in _states(app, name):
        if state is None:
            continue
        rows.append(
            {
                "change_id": logged.position,
                "changed_by": getattr(logged.event, "changed_by", None),
                "timestamp": int(logged.event.timestamp.timestamp() * 1000),
                "name": state.name,
                "product": state.product,
                "read_only": state.read_only,
                "data": blob_sha(state.blob),
                "data_version": state.data_version,
            }
        )
    rows.reverse()
    return rows


def state_at(app: Application, name: str, change_id: int) -> ReleaseState | None:
    """The release as the event at position ``change_id`` of its stream left it, if any."""
    for logged, state in _states(app, name):
        if logged.position == change_id:
            return state
    return None


def annotate(revisions: list[dict[str, Any]], now: float | None = None) -> list[dict[str, Any]]:
    """Balrog's presentation of one page of revisions.

    ``_different`` names the columns whose value differs from the page's first
    (newest) revision; ``read_only`` is shown as text; ``_time_ago`` is the
    age in words; the blob itself is left out.
    """
    first = revisions[0] if revisions else {}
    out = []
    for rev in revisions:
        different = [c for c in _COLUMNS if rev.get(c) != first.get(c)]
        row = {k: v for k, v in rev.items() if k != "data"}
        row["read_only"] = str(bool(rev["read_only"]))
        row["_different"] = different
        row["_time_ago"] = time_ago(rev["timestamp"] / 1000, now)
        out.append(row)
    return out


_MINUTE, _HOUR, _DAY, _WEEK = 60, 3600, 86400, 604800
_MONTH, _YEAR = 2629800, 31557600


def time_ago(when: float, now: float | None = None) -> str:
    """A past moment in words ("just now", "a minute ago", "3 days ago")."""
    seconds = round((time.time() if now is None else now) - when)
    future = seconds < 0
    diff = abs(seconds)
    if diff < 10:
        return "just now"
    steps = (
        (_MINUTE, None, "seconds", 1),
        (_MINUTE * 2, "a minute", None, 0),
        (_HOUR, None, "minutes", _MINUTE),
        (_HOUR * 2, "an hour", None, 0),
        (_DAY, None, "hours", _HOUR),
        (_DAY * 2, "a day", None, 0),
        (_WEEK, None, "days", _DAY),
        (_WEEK * 2, "a week", None, 0),
        (_MONTH, None, "weeks", _WEEK),
        (_MONTH * 2, "a month", None, 0),
        (_YEAR, None, "months", _MONTH),
        (_YEAR * 2, "a year", None, 0),
    )
    phrase = f"{max(diff // _YEAR, 2)} years"
    for limit, single, unit, size in steps:
        if diff < limit:
            if single is not None:
                phrase = single
            else:
                phrase = f"{diff if size == 1 else max(diff // size, 2)} {unit}"
            break
    return f"in {phrase}" if future else f"{phrase} ago"
