"""The enactment agent: enacts every due, fully signed-off scheduled change.

Each pass folds the new part of the log into its catalogue, walks the pending
changes in enactment order (``when``, then sc_id) and logs one structured line
per decision: enacted, waiting for time, waiting for uptake, waiting for
signoffs, stale (its base data_version no longer matches: reported and left
pending). Two agents at once are safe: an enactment is a write to the change's
own stream, so only one of them can record it; the other sees it enacted.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from api.logs import get_logger
from domain.application import RulelogApp
from domain.errors import Conflict, PermissionDenied, SignoffRequired
from projections.log import read_log
from projections.state import Catalog

log = get_logger("rulelog.agent")


@dataclass
class PassReport:
    """What one pass decided, by decision."""

    decisions: Counter[str] = field(default_factory=Counter)
    enacted: list[tuple[str, int]] = field(default_factory=list)


class Agent:
    def __init__(self, app: RulelogApp, enacted_by: str) -> None:
        self.app = app
        self.enacted_by = enacted_by
        self.catalog = Catalog()

    def run_pass(self, now: datetime | None = None) -> PassReport:
        self.catalog.fold(read_log(self.app, start=self.catalog.position + 1))
        moment = now or self.app.now()
        report = PassReport()
        for pending in self.catalog.pending():
            kind, sc_id = pending["kind"], pending["sc_id"]
            decision, detail = self._decide(kind, sc_id, moment)
            report.decisions[decision] += 1
            if decision == "enacted":
                report.enacted.append((kind, sc_id))
            log.info("agent.decision", decision=decision, kind=kind, sc_id=sc_id, detail=detail)
        return report

    def _decide(self, kind: str, sc_id: int, now: datetime) -> tuple[str, str | None]:
        sc = self.app.get_scheduled_change(kind, sc_id)
        if not sc.pending:
            return f"already_{sc.status}", None
        if not self.app.is_due(sc, now):
            waiting = "waiting_for_time" if sc.when is not None else "waiting_for_uptake"
            return waiting, None
        try:
            self.app.enact_scheduled_change(kind, sc_id, self.enacted_by)
        except SignoffRequired as error:
            return "waiting_for_signoffs", error.message
        except PermissionDenied as error:
            return "not_permitted", error.message
        except Conflict as error:
            fresh = self.app.get_scheduled_change(kind, sc_id)
            if not fresh.pending:
                return f"already_{fresh.status}", None
            return "stale", error.message
        return "enacted", None
