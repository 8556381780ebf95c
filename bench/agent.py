"""One agent pass over N due changes, next to N plain rule updates.

    .venv/bin/python bench/agent.py [--changes 1000] [--stores sqlite,postgres]

For each store, on fresh stores in the same run:
  * agent: N rule updates scheduled (due, no signoff required), then the time
    of one ``Agent.run_pass`` that enacts them all (each enactment reads the
    change, the rule, the policies and both users, and saves the enactment
    with the rule's event atomically);
  * baseline: the time of N direct ``update_rule`` commands on the same data.
Target: agent / baseline <= 2.0.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.generate import snapshot
from bench.stores import fresh_store, reachable
from rulelog.api.config import open_app
from rulelog.api.logs import configure_logging
from rulelog.projections.log import read_log
from rulelog.services.agent import Agent
from rulelog.services.application import RulelogApp

T0 = datetime(2030, 1, 1, tzinfo=UTC)


def seeded(url: str, count: int) -> RulelogApp:
    app = open_app(url)
    app.now = lambda: T0  # type: ignore[method-assign]
    app.add_user("bench", admin=True, recorded_by="bench")
    app.import_snapshot(snapshot(count, 50), changed_by="bench")
    return app


def agent_seconds(kind: str, count: int) -> float:
    with fresh_store(kind) as url:
        app = seeded(url, count)
        when = (T0 + timedelta(minutes=1)).isoformat()
        for rule_id in range(1, count + 1):
            app.schedule_change(
                "rules",
                "update",
                {"rule_id": rule_id, "priority": 5000},
                {"when": when},
                "bench",
                data_version=1,
            )
        agent = Agent(app, "bench")
        agent.catalog.fold(read_log(app))  # the pass measures enactment, not catch-up
        start = time.perf_counter()
        report = agent.run_pass(now=T0 + timedelta(hours=1))
        elapsed = time.perf_counter() - start
        assert report.decisions["enacted"] == count, report.decisions
        return elapsed


def update_seconds(kind: str, count: int) -> float:
    with fresh_store(kind) as url:
        app = seeded(url, count)
        start = time.perf_counter()
        for rule_id in range(1, count + 1):
            app.update_rule(rule_id, 1, {"priority": 5000}, changed_by="bench")
        return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--changes", type=int, default=1000)
    parser.add_argument("--stores", default="sqlite,postgres")
    args = parser.parse_args()
    configure_logging("WARNING")
    print(
        f"{'store':9} {'agent pass s':>13} {'updates s':>10} {'ratio':>6}  ({args.changes} changes)"
    )
    for kind in reachable(args.stores.split(",")):
        agent = agent_seconds(kind, args.changes)
        plain = update_seconds(kind, args.changes)
        print(f"{kind:9} {agent:13.2f} {plain:10.2f} {agent / plain:6.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
