"""The enactment agent: enacts every due, fully signed-off scheduled change.

Each pass folds the new part of the log into its catalogue and walks the
pending changes in enactment order (``when``, then sc_id). Due changes that
touch the same live channel (directly, or through another change they share a
channel with) are enacted *together*, in one atomic save, after checking that
every signoff was given on the test views as they are now: a change added,
modified or cancelled since means the signoff was given on something else,
and by default the group is refused (``RULELOG_FINGERPRINT_POLICY=warn``
enacts it anyway and records the mismatch). Each enactment records, per live
channel, the fingerprints signed off, the live view's fingerprint just after,
and whether changes touching the channel stay pending (a partial state).

One structured log line per decision: enacted, waiting_for_time,
waiting_for_uptake, waiting_for_signoffs, fingerprint_changed, stale,
not_permitted, already_enacted / already_cancelled.

Two agents at once are safe: an enactment writes the change's own stream, so
only one of them can record it; the other sees it enacted.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import structlog

from rulelog.domain.errors import Conflict, PermissionDenied, SignoffRequired
from rulelog.domain.workflow.scheduling import parse_when
from rulelog.domain.workflow.signoff_rules import Requirement, is_satisfied
from rulelog.projections.expectations import check_state, describe
from rulelog.projections.log import read_log
from rulelog.projections.state import Catalog
from rulelog.projections.views import derived_view
from rulelog.services.application import RulelogApp
from rulelog.services.verification import ChannelViews, only_pending

log = structlog.get_logger("rulelog.agent")
ScKey = tuple[str, int]
POLICIES = ("refuse", "warn")


@dataclass
class PassReport:
    """What one pass decided, by decision, and what it enacted (in save groups)."""

    decisions: Counter[str] = field(default_factory=Counter)
    enacted: list[list[ScKey]] = field(default_factory=list)
    #: Expectations failing on live after this pass's enactments (checked on the
    #: channels enacted changes touched; counted as ``expectation_failing_live``).
    failing_live: list[dict[str, Any]] = field(default_factory=list)


def check_live(app: RulelogApp, state: Catalog, channels: Iterable[str]) -> list[dict[str, Any]]:
    """The expectations of ``channels`` that fail on live in ``state``, each logged:
    what every enactment (the agent's, or one made by hand) is followed by."""
    failing: list[dict[str, Any]] = []
    for channel in sorted(set(channels)):
        for result in check_state(app, state, channel=channel, test=False):
            if not result["live"]["passed"]:
                failing.append(result)
                log.warning(
                    "expectation.failing_live",
                    expectation=result["name"],
                    channel=channel,
                    gets=describe(result["live"]),
                )
    return failing


class Agent:
    def __init__(self, app: RulelogApp, enacted_by: str, policy: str = "refuse") -> None:
        """``policy`` is what to do with a signoff given on a different test view
        (``RULELOG_FINGERPRINT_POLICY``, which the interfaces read and pass in)."""
        self.app = app
        self.enacted_by = enacted_by
        self.policy = policy
        self.catalog = Catalog()

    def _decide(self, report: PassReport, sc: dict[str, Any], decision: str, detail: Any) -> None:
        report.decisions[decision] += 1
        log.info(
            "agent.decision",
            decision=decision,
            kind=sc["kind"],
            sc_id=sc["sc_id"],
            detail=detail,
        )

    def run_pass(self, now: datetime | None = None) -> PassReport:
        self.catalog.fold(read_log(self.app, start=self.catalog.position + 1))
        moment = now or self.app.now()
        state = self.catalog
        report = PassReport()
        ready: list[dict[str, Any]] = []
        for sc in state.pending():
            waiting = self._waiting(state, sc, moment)
            if waiting:
                self._decide(report, sc, waiting, None)
            elif not is_satisfied(_requirements(sc), sc["signoffs"]):
                self._decide(report, sc, "waiting_for_signoffs", sc["required"])
            else:
                ready.append(sc)
        if not ready:
            return report
        views = ChannelViews(state)
        for group in _groups(ready, views):
            self._enact_group(state, views, group, report)
        if report.enacted:
            self._check_live(views, report)
        return report

    def _check_live(self, views: ChannelViews, report: PassReport) -> None:
        """Check the expectations of the channels just enacted on, on live."""
        channels = {
            channel
            for group in report.enacted
            for kind, sc_id in group
            for channel in views.affected({"kind": kind, "sc_id": sc_id})
        }
        self.catalog.fold(read_log(self.app, start=self.catalog.position + 1))
        report.failing_live = check_live(self.app, self.catalog, channels)
        if report.failing_live:
            report.decisions["expectation_failing_live"] += len(report.failing_live)

    @staticmethod
    def _waiting(state: Catalog, sc: dict[str, Any], now: datetime) -> str | None:
        condition = sc["condition"]
        if condition.get("when"):
            return None if parse_when(condition["when"]) <= now else "waiting_for_time"
        key = (condition["telemetry_product"], condition["telemetry_channel"])
        reported = state.uptake.get(key)
        if reported is not None and reported >= float(condition["telemetry_uptake"]):
            return None
        return "waiting_for_uptake"

    def _enact_group(
        self,
        state: Catalog,
        views: ChannelViews,
        group: list[dict[str, Any]],
        report: PassReport,
    ) -> None:
        changed = self._stale_signoffs(views, group)
        if changed and self.policy == "refuse":
            for sc in group:
                self._decide(report, sc, "fingerprint_changed", changed)
            return
        members = list(group)
        outcomes: dict[tuple[str, frozenset[ScKey]], dict[str, Any]] = {}
        while members:
            items = [
                (sc["kind"], sc["sc_id"], self._verification(state, views, sc, members, outcomes))
                for sc in members
            ]
            if changed:
                for item in items:
                    item[2]["fingerprint_mismatch"] = changed
            try:
                self.app.enact_together(items, self.enacted_by)
            except (Conflict, SignoffRequired, PermissionDenied) as error:
                failed = error.context.get("sc_id")
                culprit = next((sc for sc in members if sc["sc_id"] == failed), members[0])
                members.remove(culprit)
                self._decide(
                    report, culprit, _decision_for(self.app, culprit, error), error.message
                )
                continue
            report.enacted.append([(sc["kind"], sc["sc_id"]) for sc in members])
            for sc in members:
                self._decide(report, sc, "enacted", {"together_with": len(members) - 1})
            return

    @staticmethod
    def _stale_signoffs(views: ChannelViews, group: list[dict[str, Any]]) -> list[str]:
        """Signoffs whose recorded test view differs from the view now."""
        problems = []
        for sc in group:
            for user, seen in sc.get("signoff_fingerprints", {}).items():
                for channel, fingerprint in seen.items():
                    if views.view(channel).fingerprint() != fingerprint:
                        problems.append(
                            f"{user}'s signoff on {sc['kind']} change {sc['sc_id']} was given on "
                            f"a different test view of {channel}: sign off again"
                        )
        return problems

    @staticmethod
    def _verification(
        state: Catalog,
        views: ChannelViews,
        sc: dict[str, Any],
        members: list[dict[str, Any]],
        outcomes: dict[tuple[str, frozenset[ScKey]], dict[str, Any]],
    ) -> dict[str, Any]:
        keys = frozenset((m["kind"], m["sc_id"]) for m in members)
        channels = {
            channel: {
                **_channel_outcome(state, views, channel, keys, outcomes),
                "signed_off": {
                    user: seen.get(channel)
                    for user, seen in sc.get("signoff_fingerprints", {}).items()
                },
            }
            for channel in views.affected(sc)
        }
        unverified = sorted(
            user for user in sc["signoffs"] if not sc.get("signoff_fingerprints", {}).get(user)
        )
        return {"channels": channels, "unverified_signoffs": unverified}


def _channel_outcome(
    state: Catalog,
    views: ChannelViews,
    channel: str,
    keys: frozenset[ScKey],
    outcomes: dict[tuple[str, frozenset[ScKey]], dict[str, Any]],
) -> dict[str, Any]:
    """What enacting ``keys`` does to ``channel`` (the same for every member of a group)."""
    cache_key = (channel, keys)
    if cache_key not in outcomes:
        still_pending = [
            o["sc_id"] for o in views.view(channel).overlays if (o["kind"], o["sc_id"]) not in keys
        ]
        outcomes[cache_key] = {
            "test_view": views.view(channel).fingerprint(),
            "live_after": derived_view(only_pending(state, keys), channel).fingerprint(),
            "partial": bool(still_pending),
            "still_pending": still_pending,
        }
    return outcomes[cache_key]


def _requirements(sc: dict[str, Any]) -> list[Requirement]:
    return [Requirement(r["role"], r["signoffs_required"]) for r in sc["required"]]


def _decision_for(app: RulelogApp, sc: dict[str, Any], error: Exception) -> str:
    if isinstance(error, SignoffRequired):
        return "waiting_for_signoffs"
    if isinstance(error, PermissionDenied):
        return "not_permitted"
    fresh = app.get_scheduled_change(sc["kind"], sc["sc_id"])
    return "stale" if fresh.pending else f"already_{fresh.status}"


def _groups(ready: list[dict[str, Any]], views: ChannelViews) -> list[list[dict[str, Any]]]:
    """Connected groups: changes sharing a live channel (transitively) go together."""
    parent = list(range(len(ready)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    by_channel: dict[str, int] = {}
    for index, sc in enumerate(ready):
        for channel in views.affected(sc):
            if channel in by_channel:
                parent[root(index)] = root(by_channel[channel])
            else:
                by_channel[channel] = index
    groups: dict[int, list[dict[str, Any]]] = {}
    for index, sc in enumerate(ready):
        groups.setdefault(root(index), []).append(sc)
    return list(groups.values())  # each in enactment order; groups by their first member
