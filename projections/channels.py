"""Test channels as a release engineer manages them: list them, derive one on purpose.

Which channel is derived and which is hand-kept is decided in
``projections.views``; this module answers ``rulelog channels list`` and
carries out ``rulelog channels derive`` from the current state: the rules to
retire are the live rules that name the channel on its own, at the
data_versions read, so a rule changed meanwhile makes the command fail as a
stale edit would, and nothing is saved.
"""

from __future__ import annotations

from typing import Any

from rulelog.domain.errors import Invalid
from rulelog.projections.diff import stamp
from rulelog.projections.timeline import Timeline
from rulelog.projections.views import all_test_channels, as_test_channel, kept_by

Row = dict[str, Any]


def list_test_channels(timeline: Timeline, at: str | None = None, live: str | None = None) -> Row:
    """Every test channel at ``at`` (None: now), or those of ``live``, each with its live
    channel, whether it is derived or hand-kept, and the rules that keep it so."""
    position = timeline.resolve(at)
    state = timeline.state_at(position)
    rows = [t.as_row() for t in all_test_channels(state) if live is None or t.live == live]
    return {**stamp(timeline, position), "test_channels": rows}


def derive_channel(
    app: Any, timeline: Timeline, test: str, changed_by: str, live: str | None = None
) -> Row:
    """Retire the rules that keep ``test`` hand-kept (as rule deletions) and map it to
    its live channel -- by default the one its suffix or mapping names -- in one save."""
    timeline.catch_up()
    state = timeline.current()
    found = as_test_channel(state, test)
    if live is None:
        if found is None:
            raise Invalid(
                f"test: {test} has no test-channel suffix and is not mapped: give --live",
                field="test",
            )
        live = found.live
    retired = kept_by(state, test, live)
    retire = [(rule_id, state.rules[rule_id]["data_version"]) for rule_id in retired]
    app.derive_test_channel(live, test, retire, changed_by)
    position = timeline.catch_up()
    return {
        **stamp(timeline, position),
        "channel": test,
        "live_channel": live,
        "retired_rules": list(retired),
    }
