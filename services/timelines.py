"""The timeline (position/time index and checkpoints) of an application's own store.

The projection tables live in the same database as the events, so the timeline is
opened on the store's engine: one connection pool, and no second URL to configure.
"""

from __future__ import annotations

from collections.abc import Callable

from rulelog.projections.listings import KINDS, Listing
from rulelog.projections.timeline import Timeline
from rulelog.services.application import RulelogApp


def timeline_of(app: RulelogApp, *, every: int) -> Timeline:
    """``app``'s timeline, checkpointing every ``every`` events."""
    engine = app.recorder.datastore.engine  # type: ignore[attr-defined]
    return Timeline(app, str(engine.url), every=every, engine=engine)


def rebuild_projections(
    timeline: Timeline, progress: Callable[[int], None] | None = None
) -> tuple[int, dict[str, int]]:
    """Rebuild the timeline from the whole log, then the listings' rows from the
    state it ends at (one pass over the log in all); returns the timeline's
    position and each listing's."""
    state = timeline.rebuilt(progress=progress)
    listed = {kind.name: Listing.of(timeline.app, kind).replace(state) for kind in KINDS}
    return state.position, listed
