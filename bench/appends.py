"""Concurrent single-event saves on PostgreSQL: the one-statement append next to the stock recorder.

    .venv/bin/python bench/appends.py [--writers 8] [--duration 10] [--rounds 2]

K writer threads, each with an application (and so a connection pool) of its
own, as separate serving nodes would have, save one event at a time to their
own aggregate for a fixed duration, on a fresh PostgreSQL store:
  * one-trip: the store as rulelog opens it (``adapters.pg_appends``: lock,
    insert and notify in one statement, committed with it);
  * baseline: the same application on eventsourcing-sqlalchemy's stock
    recorder (BEGIN, LOCK TABLE, INSERT, NOTIFY, COMMIT).
Each prints commits/s and the p50 / p99 latency of ``save``; rounds alternate
which goes first, and the totals over all rounds give the ratios. The 1-minute
load average is printed with each run: the machine is shared.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from eventsourcing.domain import Aggregate, event

from bench.stores import fresh_store, postgres_available
from rulelog.api.config import open_app
from rulelog.api.logs import configure_logging
from rulelog.services.application import RulelogApp


class Tally(Aggregate):
    """The smallest aggregate: each save is one small event, so the store is what is timed."""

    def __init__(self, writer: int) -> None:
        self.writer = writer
        self.count = 0

    @event("Added")
    def add(self) -> None:
        self.count += 1


def stock_app(url: str) -> RulelogApp:
    return RulelogApp(env={"PERSISTENCE_MODULE": "eventsourcing_sqlalchemy", "SQLALCHEMY_URL": url})


OPENERS: dict[str, Callable[[str], RulelogApp]] = {"one-trip": open_app, "stock": stock_app}


def run(
    opener: Callable[[str], RulelogApp], writers: int, duration: float
) -> tuple[int, list[float]]:
    """(saves committed, their latencies in seconds) for ``writers`` threads over ``duration``."""
    with fresh_store("postgres") as url:
        apps = [opener(url) for _ in range(writers)]
        tallies = [Tally(k) for k in range(writers)]
        for app, tally in zip(apps, tallies, strict=True):
            app.save(tally)  # connected, tables and function in place: outside the timing
        start = threading.Barrier(writers)
        latencies: list[list[float]] = [[] for _ in range(writers)]

        def write(k: int) -> None:
            app, tally, mine = apps[k], tallies[k], latencies[k]
            start.wait()
            stop = time.perf_counter() + duration
            while (began := time.perf_counter()) < stop:
                tally.add()
                app.save(tally)
                mine.append(time.perf_counter() - began)

        threads = [threading.Thread(target=write, args=(k,)) for k in range(writers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        for app in apps:
            app.close()
            app.recorder.datastore.engine.dispose()  # type: ignore[attr-defined]
    every = [s for mine in latencies for s in mine]
    return len(every), every


def percentile(values: list[float], p: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(p) - 1] if values else 0.0


def line(name: str, saves: int, latencies: list[float], seconds: float, note: str = "") -> str:
    p50, p99 = percentile(latencies, 50) * 1000, percentile(latencies, 99) * 1000
    return f"{name:9} {saves / seconds:10.1f} {p50:8.2f} {p99:8.2f}  {note}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--writers", type=int, default=8)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per run")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    configure_logging("WARNING")
    if not postgres_available():
        print("skipped: PostgreSQL not reachable")
        return 0
    print(f"{'recorder':9} {'commits/s':>10} {'p50 ms':>8} {'p99 ms':>8}  ({args.writers} writers)")
    totals: dict[str, tuple[int, list[float]]] = {name: (0, []) for name in OPENERS}
    for round_ in range(args.rounds):
        order = list(OPENERS) if round_ % 2 else list(reversed(OPENERS))
        for name in order:
            saves, latencies = run(OPENERS[name], args.writers, args.duration)
            load = os.getloadavg()[0]
            print(
                line(name, saves, latencies, args.duration, f"round {round_ + 1}, load {load:.1f}")
            )
            count, every = totals[name]
            totals[name] = (count + saves, every + latencies)
    seconds = args.duration * args.rounds
    for name, (saves, latencies) in totals.items():
        print(line(name, saves, latencies, seconds, f"all {args.rounds} rounds"))
    ours, stock = totals["one-trip"], totals["stock"]
    print(
        f"ratio one-trip / stock: commits/s {ours[0] / max(stock[0], 1):.2f}, "
        f"p50 {percentile(ours[1], 50) / max(percentile(stock[1], 50), 1e-9):.2f}, "
        f"p99 {percentile(ours[1], 99) / max(percentile(stock[1], 99), 1e-9):.2f}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
