"""The state at T, as answers: the rules in force (of one channel's view) and a release.

``rulelog at T rules|releases`` and the admin API's ``/timeline/rules`` and
``/timeline/releases/{name}`` both answer from here, so the CLI and HTTP agree
on every point in time. Each answer carries its ``position`` and recorded
``time``: "T" resolves to the last position recorded at or before it.
"""

from __future__ import annotations

from typing import Any

from rulelog.domain import ids
from rulelog.domain.catalog.releases import Release
from rulelog.domain.errors import NotFound
from rulelog.domain.serving.matching import channel_matches
from rulelog.projections.diff import stamp
from rulelog.projections.state import Catalog
from rulelog.projections.timeline import Timeline
from rulelog.projections.views import answered_by, as_test_channel, live_channel_of, view_of

Row = dict[str, Any]


def release_summary(row: Row) -> Row:
    """A release as Balrog lists it (the internal stream version left out)."""
    return {k: row[k] for k in ("name", "product", "read_only", "data_version")}


def _named(state: Catalog, channel: str) -> bool:
    """A rule (globs included), a pending rule change, a shutoff, a pin or a
    mapping names ``channel``; channel-less rules, which match any, do not count."""
    rows = [*state.rules.values()]
    rows += [sc["row"] for sc in state.pending() if sc["kind"] == "rules" and sc["row"]]
    if any(r.get("channel") and channel_matches(r["channel"], channel) for r in rows):
        return True
    keyed = [*state.shutoffs, *state.pins]
    return any(key[1] == channel for key in keyed) or channel in state.test_channels.values()


def channel_known(state: Catalog, channel: str) -> bool:
    """Whether anything in ``state`` concerns ``channel``: it is named, or it is a
    test channel (mapped, or by suffix) of a channel that is."""
    if channel in state.test_channels or _named(state, channel):
        return True
    live = live_channel_of(state, channel)
    return live is not None and _named(state, live)


def rules_at(
    timeline: Timeline, at: str | None, channel: str | None = None, *, known_only: bool = False
) -> Row:
    """The rules in force at ``at`` (None: now), all of them or ``channel``'s view
    (a derived test channel's: with the scheduled changes it overlays; a hand-kept
    one's: the live rules that match it, as for any channel).

    ``known_only`` refuses a channel nothing at that position concerns, which
    would otherwise answer an empty view.
    """
    position = timeline.resolve(at)
    state = timeline.state_at(position)
    answer: Row = stamp(timeline, position)
    if not channel:
        answer["rules"] = state.sorted_rules()
        return answer
    if known_only and not channel_known(state, channel):
        raise NotFound(f"channel {channel} is unknown at position {position}", channel=channel)
    view = view_of(state, channel)
    test = as_test_channel(state, channel)
    answer.update(
        channel=channel,
        live_channel=test.live if test is not None else channel,
        answered_by=answered_by(test),
        rules=view.sorted_rules(),
        overlays=[
            {k: sc[k] for k in ("kind", "sc_id", "change_type", "target")} for sc in view.overlays
        ],
    )
    return answer


def release_at(app: Any, timeline: Timeline, at: str | None, name: str) -> Row:
    """The release ``name`` as it stood at ``at`` (None: now), its blob included."""
    position = timeline.resolve(at)
    row = timeline.state_at(position).releases.get(name)
    if row is None:
        raise NotFound(f"release {name} did not exist at position {position}", name=name)
    release = app.repository.get(ids.release_id(name), version=row["version"])
    assert isinstance(release, Release)
    return {**release_summary(row), "data": release.blob, **stamp(timeline, position)}
