"""Two agents at once over the same due changes: each change enacted exactly once."""

from __future__ import annotations

import multiprocessing
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

from rulelog.api.config import open_app
from rulelog.domain.catalog.rules import Rule
from rulelog.domain.workflow.scheduling import ScheduledChange
from rulelog.projections.log import read_log
from rulelog.services.agent import Agent
from tests.conftest import Store
from tests.samples import empty_blob

T0 = datetime(2030, 1, 1, tzinfo=UTC)
CHANGES = 200


def _prepare(store: Store) -> None:
    app = store.open_with_admins()
    app.now = lambda: T0  # type: ignore[method-assign]
    app.grant_permission("robot", "scheduled_change", {"actions": ["enact"]}, "alice")
    app.create_release(
        "R-1",
        "Firefox",
        {**empty_blob("R-1"), "appv": "1", "extv": "1"},
        "alice",
    )
    when = (T0 + timedelta(minutes=1)).isoformat()
    for index in range(CHANGES):
        rule = app.create_rule(
            {
                "product": "Firefox",
                "channel": "beta",
                "priority": index,
                "backgroundRate": 100,
                "update_type": "minor",
                "mapping": "R-1",
            },
            "alice",
        )
        app.schedule_change(
            "rules",
            "update",
            {"rule_id": rule.rule_id, "priority": 1000 + index},
            {"when": when},
            "alice",
            data_version=1,
        )


def _agent_main(url: str, barrier: Any, out: Any) -> None:
    agent = Agent(open_app(url), "robot")
    agent.catalog.fold(read_log(agent.app))  # catch up before the race starts
    barrier.wait(timeout=60)
    report = agent.run_pass(now=T0 + timedelta(hours=1))
    out.put(dict(report.decisions))


def test_two_agents_enact_each_change_once(store: Store) -> None:
    _prepare(store)
    ctx = multiprocessing.get_context("spawn")
    barrier, out = ctx.Barrier(2), ctx.Queue()
    procs = [ctx.Process(target=_agent_main, args=(store.url, barrier, out)) for _ in range(2)]
    for proc in procs:
        proc.start()
    reports = [out.get(timeout=300) for _ in procs]
    for proc in procs:
        proc.join(timeout=60)
    totals: Counter[str] = Counter()
    for report in reports:
        totals.update(report)
    assert totals["enacted"] == CHANGES
    assert set(totals) <= {"enacted", "already_enacted"}
    events = Counter(type(e.event) for e in read_log(store.open()))
    assert events[ScheduledChange.Enacted] == CHANGES
    assert events[Rule.Updated] == CHANGES
