"""Uptake reports: how much of a product/channel's population is on the latest.

Balrog's scheduled changes can be conditioned on telemetry uptake, but its
agent never evaluated them. rulelog records each report as an event, so an
uptake-gated change becomes due when the latest report reaches its threshold,
and the log says which report made it due.
"""

from __future__ import annotations

from eventsourcing.domain import Aggregate, event

from rulelog.domain import ids
from rulelog.domain.errors import Invalid


def check_percent(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise Invalid(f"uptake: must be a number between 0 and 100, got {value!r}", field="uptake")
    if not 0 <= value <= 100:
        raise Invalid(f"uptake: must be between 0 and 100, got {value}", field="uptake")
    return float(value)


class Uptake(Aggregate):
    TOPIC = "rulelog:uptake"

    create_id = staticmethod(ids.uptake_id)

    @event("Created", topic="rulelog:uptake.created")
    def __init__(self, product: str, channel: str) -> None:
        self.product = product
        self.channel = channel
        self.percent: float | None = None

    @event("Reported", topic="rulelog:uptake.reported")
    def report(self, percent: float, changed_by: str) -> None:
        self.percent = percent
