"""Import and update throughput of rulelog, next to bare eventsourcing.

    .venv/bin/python bench/ingest.py [--rules 5000] [--releases 2000] [--updates 1000]
                                     [--stores sqlite,postgres]

For each store it measures, in the same run and on fresh stores:
  * import: a generated snapshot (rules + releases with the fixture's real
    blobs) through ``RulelogApp.import_snapshot`` (validation included), in
    events/s; baseline: the same number of events with the same payloads
    saved by a bare ``eventsourcing`` aggregate in one save;
  * updates: single-rule updates through ``update_rule`` (read, check
    data_version, validate, save), in commands/s; baseline: the same number
    of bare get -> event -> save round trips.
The ratio is rulelog / baseline (target >= 0.7).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event
from sqlalchemy import event as sa_event

from bench.generate import snapshot
from bench.stores import fresh_store, reachable
from rulelog.api.config import open_app


class BareRecord(Aggregate):
    """The baseline: an aggregate that stores a payload and nothing else."""

    TOPIC = "bench:bare-record"

    class Created(Aggregate.Created):
        TOPIC = "bench:bare-record.created"
        payload: dict[str, Any]

    class Changed(Aggregate.Event):
        TOPIC = "bench:bare-record.changed"
        payload: dict[str, Any]

    @event(Created)
    def __init__(self, payload: dict[str, Any]) -> None:
        self.payload = payload

    @event(Changed)
    def change(self, payload: dict[str, Any]) -> None:
        self.payload.update(payload)


def bare_app(url: str) -> Application:
    return Application(
        env={"PERSISTENCE_MODULE": "eventsourcing_sqlalchemy", "SQLALCHEMY_URL": url}
    )


def statements(app: Application, command: Callable[[], object]) -> tuple[int, int]:
    """The SQL statements ``command`` sends through the app's engine: (all, SELECTs that
    read; rulelog's append on PostgreSQL is a SELECT of its append function, not a read)."""
    engine = app.recorder.datastore.engine  # type: ignore[attr-defined]
    append = getattr(app.recorder, "append_function", None) or "\0"
    seen: list[str] = []

    def listen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement.lstrip().upper())

    sa_event.listen(engine, "before_cursor_execute", listen)
    try:
        command()
    finally:
        sa_event.remove(engine, "before_cursor_execute", listen)
    return len(seen), sum(1 for s in seen if s.startswith("SELECT") and append.upper() not in s)


def measure_import(kind: str, snap: dict[str, Any]) -> tuple[float, float, int]:
    with fresh_store(kind) as url:
        app = open_app(url)
        app.add_user("bench", admin=True, recorded_by="bench")  # outside the timing
        start = time.perf_counter()
        summary = app.import_snapshot(snap, changed_by="bench")
        ours = summary.events / (time.perf_counter() - start)
    payloads = [r["data"] for r in snap["releases"]] + list(snap["rules"])
    payloads += [{"ref": i} for i in range(summary.events - len(payloads))]
    with fresh_store(kind) as url:
        app = bare_app(url)
        app.recorder.max_notification_id()
        start = time.perf_counter()
        app.save(*(BareRecord(payload=p) for p in payloads))
        bare = len(payloads) / (time.perf_counter() - start)
    return ours, bare, summary.events


def measure_updates(
    kind: str, snap: dict[str, Any], count: int
) -> tuple[float, float, tuple[int, int], tuple[int, int]]:
    rule_ids = [r["rule_id"] for r in snap["rules"][:count]]
    with fresh_store(kind) as url:
        app = open_app(url)
        app.add_user("bench", admin=True, recorded_by="bench")
        app.import_snapshot(snap, changed_by="bench")
        start = time.perf_counter()
        for rule_id in rule_ids:
            app.update_rule(rule_id, 1, {"priority": 5000 + rule_id}, changed_by="bench")
        ours = len(rule_ids) / (time.perf_counter() - start)
        first = rule_ids[0]
        our_sql = statements(
            app, lambda: app.update_rule(first, 2, {"priority": 1}, changed_by="bench")
        )
    with fresh_store(kind) as url:
        app = bare_app(url)
        records = [BareRecord(payload=dict(r)) for r in snap["rules"][:count]]
        app.save(*records)
        start = time.perf_counter()
        for record in records:
            fresh = app.repository.get(record.id)
            fresh.change(payload={"priority": 5000})
            app.save(fresh)
        bare = len(records) / (time.perf_counter() - start)

        def bare_update() -> None:
            fresh = app.repository.get(records[0].id)
            fresh.change(payload={"priority": 1})
            app.save(fresh)

        bare_sql = statements(app, bare_update)
    return ours, bare, our_sql, bare_sql


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rules", type=int, default=5000)
    parser.add_argument("--releases", type=int, default=2000)
    parser.add_argument("--updates", type=int, default=1000)
    parser.add_argument("--stores", default="sqlite,postgres")
    args = parser.parse_args()
    snap = snapshot(args.rules, args.releases)
    print(f"snapshot: {args.rules} rules, {args.releases} releases; {args.updates} updates")
    print(f"{'store':9} {'measure':18} {'rulelog':>12} {'bare':>12} {'ratio':>7}")
    for kind in reachable(args.stores.split(",")):
        ours, bare, events = measure_import(kind, snap)
        print(
            f"{kind:9} {'import events/s':18} {ours:12.0f} {bare:12.0f} {ours / bare:7.2f}"
            f"   ({events} events)"
        )
        ours, bare, our_sql, bare_sql = measure_updates(kind, snap, args.updates)
        print(f"{kind:9} {'updates/s':18} {ours:12.0f} {bare:12.0f} {ours / bare:7.2f}")
        ours_text, bare_text = (f"{n} ({selects} SELECT)" for n, selects in (our_sql, bare_sql))
        print(f"{kind:9} {'SQL per update':18} {ours_text:>12} {bare_text:>12}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
