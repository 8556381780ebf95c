"""Every event the catalogue folds is classified for the answer cache.

An unclassified event is safe (caches start again) but silently costly: an
expectation edit or a new bookkeeping event would empty every serving node's
cache. This keeps the classification complete as event types are added.
"""

from __future__ import annotations

from eventsourcing.utils import resolve_topic

from rulelog.projections import serving
from rulelog.projections.state import folded_topics


def test_every_folded_event_is_either_served_or_inert() -> None:
    classified = set(serving._KINDS) | set(serving._INERT)
    unclassified = sorted(
        topic for topic in folded_topics() if resolve_topic(topic) not in classified
    )
    assert unclassified == []
