"""The timeline (position/time index and checkpoints) of an application's own store.

The projection tables live in the same database as the events, so the timeline is
opened on the store's engine: one connection pool, and no second URL to configure.
"""

from __future__ import annotations

from rulelog.projections.timeline import Timeline
from rulelog.services.application import RulelogApp


def timeline_of(app: RulelogApp, *, every: int) -> Timeline:
    """``app``'s timeline, checkpointing every ``every`` events."""
    engine = app.recorder.datastore.engine  # type: ignore[attr-defined]
    return Timeline(app, str(engine.url), every=every, engine=engine)
