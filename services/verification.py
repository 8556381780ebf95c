"""What went live is what was tested: fingerprints of test-channel views.

A signoff is given on the derived test views of the live channels a change
touches; their fingerprints are recorded with it. Before enacting, the agent
compares each signoff's fingerprints with the views now: if a change was
added, modified or cancelled in between, the signoff was given on something
else. This module is the wiring between the domain (which records) and the
projections (which compute the views).

A scheduler holding a required role signs off automatically, on the test
views *with* the change in them: those exist only once the change is
scheduled, so ``verify_scheduler_signoffs`` computes them from the log at the
position the change was scheduled at and records them in the save right
after (``RulelogApp.record_signoff_views``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from typing import Any

from rulelog.domain.workflow.scheduling import ScheduledChange
from rulelog.projections.expectations import failures_blamed_on, refuse_unless_overridden
from rulelog.projections.state import Catalog
from rulelog.projections.timeline import Timeline
from rulelog.projections.views import ChannelView, derived_view, live_channel_of
from rulelog.services.application import RulelogApp
from rulelog.services.restore import restore_channel

ScKey = tuple[str, int]


def live_channels(state: Catalog) -> set[str]:
    """Channels that live rules, shutoffs and pins name (globs and test channels excluded)."""
    names = {r.get("channel") for r in state.rules.values()}
    names |= {key[1] for key in state.shutoffs} | {key[1] for key in state.pins}
    names |= set(state.test_channels.values())
    return {
        n for n in names if isinstance(n, str) and "*" not in n and not live_channel_of(state, n)
    }


class ChannelViews:
    """The test views of every live channel of one state, built once each."""

    def __init__(self, state: Catalog) -> None:
        self.state = state
        channels = live_channels(state)
        for sc in state.pending():
            for row in (sc.get("row"), _old_rule(state, sc)):
                channel = (row or {}).get("channel")
                if isinstance(channel, str) and "*" not in channel:
                    channels.add(channel)
            if sc["kind"] in ("emergency_shutoff", "pinnable_releases"):
                channels.add(sc["target"].split("/")[1])
        self.channels = sorted(c for c in channels if not live_channel_of(state, c))
        self._views: dict[str, ChannelView] = {}
        self._touching: dict[ScKey, list[str]] | None = None

    def view(self, channel: str) -> ChannelView:
        if channel not in self._views:
            self._views[channel] = derived_view(self.state, channel)
        return self._views[channel]

    def affected(self, sc: dict[str, Any]) -> list[str]:
        """The live channels whose test view this pending change is part of."""
        if self._touching is None:
            self._touching = {}
            for channel in self.channels:
                for overlay in self.view(channel).overlays:
                    key = (overlay["kind"], overlay["sc_id"])
                    self._touching.setdefault(key, []).append(channel)
        return self._touching.get((sc["kind"], sc["sc_id"]), [])

    def fingerprints(self, sc: dict[str, Any]) -> dict[str, str]:
        """Live channel -> fingerprint of its test view, for each channel the change touches."""
        return {c: self.view(c).fingerprint() for c in self.affected(sc)}


def _old_rule(state: Catalog, sc: dict[str, Any]) -> dict[str, Any] | None:
    if sc["kind"] != "rules" or sc["change_type"] == "insert":
        return None
    return state.rules.get(int(sc["target"]))


def sign_off_verified(
    app: RulelogApp,
    state: Catalog,
    kind: str,
    sc_id: int,
    role: str,
    username: str,
    override_reason: str | None = None,
) -> ScheduledChange:
    """Sign off, recording the test views the signoff is given on; refused while the
    change makes expectations fail on a test view, unless ``override_reason`` is given
    (then recorded with the signoff)."""
    sc = state.scheduled.get((kind, sc_id))
    seen = ChannelViews(state).fingerprints(sc) if sc is not None else {}
    failures = failures_blamed_on(app, state, kind, sc_id) if sc is not None else []
    refuse_unless_overridden(failures, kind, sc_id, override_reason)
    override = (override_reason or "", [r["name"] for r in failures]) if failures else None
    return app.sign_off(kind, sc_id, role, username, fingerprints=seen, override=override)


def verify_scheduler_signoffs(
    app: RulelogApp, timeline: Timeline, changes: Sequence[ScheduledChange]
) -> list[ScheduledChange]:
    """Record the test views the automatic signoffs of just-scheduled changes were
    given on: each affected view as it was once the changes were scheduled (one
    position for all, the last scheduling's, for changes scheduled as one decision).

    A change modified or ended meanwhile keeps its signoffs unverified (the
    agent reports them as such), as does one that touches no test view. A change
    that makes an expectation fail on its test view loses its automatic signoffs:
    signing it off needs an override reason, which only a signer can give.
    """
    unverified = {
        (sc.kind, sc.sc_id)
        for sc in changes
        if any(not sc.signoff_fingerprints.get(u) for u in sc.signoffs)
    }
    if not unverified:
        return list(changes)
    timeline.catch_up()
    latest = timeline.current()
    positions = [latest.scheduled[k]["position"] for k in unverified if k in latest.scheduled]
    if not positions:
        return list(changes)
    state = timeline.state_at(max(positions))
    views = ChannelViews(state)
    done: list[ScheduledChange] = []
    for sc in changes:
        row = state.scheduled.get((sc.kind, sc.sc_id))
        if (sc.kind, sc.sc_id) in unverified and row is not None:
            if failures_blamed_on(app, state, sc.kind, sc.sc_id):
                # A signoff on a test view where expectations fail needs the signer's
                # override reason; an automatic one has none, so it is withdrawn.
                for username in [u for u in sc.signoffs if not sc.signoff_fingerprints.get(u)]:
                    sc = app.revoke_signoff(sc.kind, sc.sc_id, username)
                done.append(sc)
                continue
            seen = views.fingerprints(row)
            signers = {u: seen for u in sc.signoffs if not sc.signoff_fingerprints.get(u)}
            sc = app.record_signoff_views(sc.kind, sc.sc_id, sc.data_version, signers)
        done.append(sc)
    return done


def only_pending(state: Catalog, keys: Iterable[ScKey]) -> Catalog:
    """The same state with only these changes pending: the live state they produce."""
    wanted = set(keys)
    return dataclasses.replace(
        state, scheduled={k: v for k, v in state.scheduled.items() if k in wanted}
    )


def restore_verified(
    app: RulelogApp, timeline: Timeline, channel: str, to: Any, changed_by: str, **options: Any
) -> dict[str, Any]:
    """``services.restore.restore_channel``, with the restorer's automatic signoffs made
    on the test views holding every change of the restore (the CLI and HTTP both call it)."""
    result = restore_channel(app, timeline, channel, to, changed_by, **options)
    scheduled = [
        app.get_scheduled_change("rules", c["sc_id"]) for c in result["changes"] if c["sc_id"]
    ]
    verify_scheduler_signoffs(app, timeline, [sc for sc in scheduled if sc.signoffs])
    return result
