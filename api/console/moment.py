"""Which moment a page shows: now (live, editable) or ``?at=T`` (read-only).

``at`` takes what the CLI and ``/api/timeline`` take -- ISO 8601 UTC, epoch
milliseconds, ``position:N`` -- resolved by the store's timeline (the same
``timeline_of`` the timeline routes use) to one position, so the whole page
is one state. The time control's range input sends ``pos=N`` when the page
is used without JavaScript; it means ``at=position:N``.

Live pages read the admin app's own read model (``CatalogReader``: at the
head of the log, ended scheduled changes kept); a past moment is the
timeline's checkpoint plus the events after it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from fastapi import Request

from rulelog.api.admin.timeline import timeline_of
from rulelog.api.console.session import ConsoleRefusal
from rulelog.domain.errors import Invalid
from rulelog.projections.state import Catalog

__all__ = ["Moment", "default_when", "moment_of", "state_of"]

#: A change scheduled from a form is due this long after the form is shown, unless changed.
DEFAULT_DELAY = timedelta(minutes=10)
#: The time control shows at most this many ticks (evenly spread over a long log).
MOST_TICKS = 120


@dataclass(frozen=True)
class Moment:
    """The position a page shows, and what its time control needs."""

    position: int
    head: int
    time: datetime | None
    #: The ``at`` the page was asked for (None: live).
    at: str | None
    ticks: list[int] = field(default_factory=list)

    @property
    def live(self) -> bool:
        return self.at is None

    @property
    def where(self) -> str:
        """The moment in words, for messages: "now" or "at position N"."""
        return "now" if self.live else f"at position {self.position}"

    @property
    def query(self) -> str:
        """``?at=position:N`` to keep links on this moment ("" when live)."""
        return "" if self.live else "?" + urlencode({"at": f"position:{self.position}"})

    def link(self, path: str, **params: Any) -> str:
        """``path`` with ``params`` (Nones left out), kept at this moment."""
        given = {k: v for k, v in params.items() if v not in (None, "")}
        if not self.live:
            given["at"] = f"position:{self.position}"
        return path + ("?" + urlencode(given) if given else "")


def _ticks(head: int) -> list[int]:
    if head <= MOST_TICKS:
        return list(range(1, head + 1))
    step = head / MOST_TICKS
    return sorted({round(step * (i + 1)) for i in range(MOST_TICKS)})


def moment_of(request: Request) -> Moment:
    """The page's moment from ``at`` (or ``pos``); a bad one is a 400 page naming it."""
    timeline = timeline_of(request)
    at = request.query_params.get("at") or None
    pos = request.query_params.get("pos") or None
    if at is None and pos is not None:
        at = f"position:{pos}"
    try:
        timeline.catch_up()  # so a recent position has its recorded time
        head = timeline.resolve(None)
        position = timeline.resolve(at) if at is not None else head
    except Invalid as error:
        raise ConsoleRefusal(400, f"at: {str(error).removeprefix('at: ')}") from None
    return Moment(position, head, timeline.time_of(position), at, _ticks(head))


def default_when(request: Request) -> str:
    """The ``when`` a scheduling form proposes (UTC, ISO 8601)."""
    return (request.app.state.service.now() + DEFAULT_DELAY).strftime("%Y-%m-%dT%H:%M:%SZ")


@contextmanager
def state_of(request: Request, moment: Moment) -> Iterator[Catalog]:
    """The catalogue at ``moment``, held still while the block renders it."""
    if moment.live:
        with request.app.state.reader.current() as model:
            yield model.catalog
        return
    yield timeline_of(request).state_at(moment.position)
