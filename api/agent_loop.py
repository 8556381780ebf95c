"""The agent as a long-running process: passes at an interval, surviving store outages.

A pass that fails (the database went away, a connection was cut mid-pass) is
logged and counted, and the next one is tried after a backoff that doubles
from one second up to ``RULELOG_AGENT_BACKOFF_MAX``; the first pass that
succeeds resets it. Nothing a pass does is lost by failing: an enactment is
one atomic save, so it either happened or is retried by the next pass. Only
``--once`` reports a failed pass as the process's failure (a non-zero exit).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from rulelog.api.logs import get_logger
from rulelog.api.metrics import metrics
from rulelog.services.agent import Agent, PassReport

log = get_logger("rulelog.agent")

#: Decisions that mean "pending, but not yet due".
NOT_DUE = ("waiting_for_time", "waiting_for_uptake")
FIRST_BACKOFF = 1.0


@dataclass
class AgentLoop:
    """Runs agent passes until ``stop`` is set; ``on_pass`` sees each report.

    The agent (and so the store) is made by ``make_agent`` on the first attempt
    that succeeds, so an agent started while the database is down waits for it.
    """

    make_agent: Callable[[], Agent]
    interval: float
    backoff_max: float = 60.0
    on_pass: Callable[[PassReport], None] = lambda report: None
    stop: threading.Event = field(default_factory=threading.Event)
    failures: int = 0
    agent: Agent | None = None

    def run_once(self) -> PassReport:
        """One pass, with its metrics; a failure is recorded and raised."""
        m = metrics()
        try:
            if self.agent is None:
                self.agent = self.make_agent()
            report = self.agent.run_pass()
        except Exception as error:
            m.agent_runs.labels("failed").inc()
            m.agent_failures.labels(type(error).__name__).inc()
            raise
        m.agent_runs.labels("ok").inc()
        for group in report.enacted:
            for kind, _sc_id in group:
                m.agent_enactments.labels(kind).inc()
        if report.failing_live:
            m.expectations_failing_live.inc(len(report.failing_live))
        pending = sum(report.decisions.values()) - report.decisions.get("enacted", 0)
        m.scheduled_pending.set(pending)
        m.scheduled_due.set(pending - sum(report.decisions.get(d, 0) for d in NOT_DUE))
        return report

    def run(self) -> None:
        """Pass after pass; transient failures wait a backoff, never end the loop."""
        backoff = 0.0
        while not self.stop.is_set():
            try:
                report = self.run_once()
            except Exception as error:
                self.failures += 1
                backoff = min(max(backoff * 2, FIRST_BACKOFF), self.backoff_max)
                log.error(
                    "agent.pass_failed",
                    error=f"{type(error).__name__}: {error}".splitlines()[0],
                    failures=self.failures,
                    retry_in=backoff,
                )
                self.stop.wait(backoff)
                continue
            if backoff:
                log.warning("agent.recovered", after_failures=self.failures)
            backoff = 0.0
            self.on_pass(report)
            self.stop.wait(self.interval)
