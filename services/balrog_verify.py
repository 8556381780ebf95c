"""``import-balrog --verify``: the store next to the Balrog database, every difference.

Two checks. The current rows of every table (data_versions, scheduled changes
and their signoffs included; v2 releases assembled, with every part's
data_version) against the store's state folded from its whole log. And the
rules at every time Balrog recorded a rules change: Balrog's
``GET /api/rules?timestamp=T`` takes, per rule, its history row with the
highest ``change_id`` among those at or before T (``getPointInTime``); rulelog
answers with the state at the last position recorded at or before T. Both are
advanced together through time, and at each T only the rules either side
touched since the previous T are compared (an untouched rule cannot have
started to differ), so the check is one pass over both histories.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from rulelog.adapters.balrog_source import BalrogSource
from rulelog.domain.balrog.rows import is_keys_only, rule_fields
from rulelog.domain.catalog.rules import Rule
from rulelog.projections.balrog_compare import differences, rulelog_side
from rulelog.projections.log import read_log
from rulelog.projections.state import Catalog, folded_topics
from rulelog.services.application import RulelogApp
from rulelog.services.balrog_v2 import balrog_rows, store_side


def verify(app: RulelogApp, source: BalrogSource) -> Iterator[str]:
    """Every difference between the store and the Balrog database, one line each."""
    catalog = Catalog(keep_ended=True).fold(read_log(app, topics=folded_topics()))
    yield from differences(balrog_rows(source), rulelog_side(catalog, store_side(app, source)))
    yield from _rules_through_time(app, source)


def _balrog_rules_by_time(source: BalrogSource) -> Iterator[tuple[int, int, dict[str, Any]]]:
    h = source.table("rules_history")
    assert h is not None
    query = select(h).order_by(h.c.timestamp, h.c.change_id)
    with source.engine.connect() as conn:
        result = conn.execution_options(stream_results=True, yield_per=1000).execute(query)
        for mapping in result.mappings():
            values = dict(mapping)
            values.pop("changed_by")
            yield int(values.pop("timestamp")), values.pop("change_id"), values


def _rules_through_time(app: RulelogApp, source: BalrogSource) -> Iterator[str]:
    theirs: dict[int, tuple[int, dict[str, Any] | None]] = {}
    ours = Catalog()
    log = read_log(app, topics=(Rule.Created.TOPIC, Rule.Updated.TOPIC, Rule.Deleted.TOPIC))
    pending_event = next(log, None)
    recorded = datetime.min.replace(tzinfo=UTC)
    touched: set[int] = set()
    rows = _balrog_rules_by_time(source)
    row = next(rows, None)
    while row is not None:
        moment = row[0]
        while row is not None and row[0] == moment:
            _ts, change_id, values = row
            rule_id = values["rule_id"]
            held = theirs.get(rule_id)
            if held is None or change_id > held[0]:
                state = None
                if not is_keys_only("rules", values):
                    state = {**rule_fields(values), "data_version": values["data_version"]}
                theirs[rule_id] = (change_id, state)
                touched.add(rule_id)
            row = next(rows, None)
        at = datetime.fromtimestamp(moment / 1000, tz=UTC)
        # Rulelog's position->time index: the running maximum of event times.
        while pending_event is not None and max(recorded, pending_event.timestamp) <= at:
            recorded = max(recorded, pending_event.timestamp)
            touched.add(_rule_id(ours, pending_event))
            ours.apply(pending_event)
            pending_event = next(log, None)
        for rule_id in sorted(touched):
            mine = ours.rules.get(rule_id)
            mine = {k: v for k, v in mine.items() if k != "rule_id"} if mine else None
            balrog = theirs.get(rule_id, (0, None))[1]
            if mine != balrog:
                yield (
                    f"rules at {at.isoformat()} (timestamp={moment}): rule {rule_id}: "
                    f"Balrog {balrog!r}, rulelog {mine!r}"
                )
        touched.clear()


def _rule_id(catalog: Catalog, logged: Any) -> int:
    """The rule an event is about (read before the fold forgets a deleted rule's stream)."""
    if isinstance(logged.event, Rule.Created):
        return int(logged.event.rule_id)
    return int(catalog._streams[logged.originator_id.int].key)
