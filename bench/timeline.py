"""The timeline's as-of views and rebuilds, next to reading the log, on generated logs.

    .venv/bin/python bench/timeline.py [--sizes 100000,1000000] [--samples 200] [--every K]
                                       [--delta-every D] [--seed 1] [--repeat 2] [--regenerate]

For each size it opens a SQLite log of that many events (generated on first
use, then cached under ``bench/.cache/``) and measures, in the same run:

  * as-of: ``Timeline.state_at(p)`` (one full checkpoint, a few deltas and
    fewer than D events folded) at ``--samples`` random past positions, median
    and p99, alone and with the live view of the release channel built on top;
    baseline: reading
    and decoding K events, ``list(read_log(app, start=q, stop=q + K - 1))``, at
    as many random q, interleaved with the as-of samples;
  * rebuild: ``Timeline.rebuild()`` in events/s; baseline: a full pass of
    ``read_log`` over the log (read + decode), events/s; the two alternate
    ``--repeat`` times and the fastest of each counts.

Targets: as-of p99 under 3x the cost of reading K events (shown against both
the p99 and the median of the reads); as-of cost at the largest size within
1.5x of that at the smallest; rebuild at least 0.5x the raw read+decode
throughput. Every figure is given on wall time and on CPU time (the process's,
and its children's: a rebuild reads the log in a child interpreter).

The logs are built by ``bench/timeline_log.py``: in bulk, through the commands'
own per-kind planning, in the mix a Balrog deployment produces; the first run
of a size generates its log and caches it under ``bench/.cache/``.
"""

from __future__ import annotations

import argparse
import math
import os
import random
import sqlite3
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.timeline_log import GENERATOR_VERSION, LogBuilder
from rulelog.api.config import open_app, open_timeline
from rulelog.projections.log import last_position, read_log
from rulelog.projections.views import live_view
from rulelog.services.application import RulelogApp

CACHE = Path(__file__).resolve().parent / ".cache"


def cached_log(
    size: int, seed: int, regenerate: bool, *, name: str | None = None, **options: Any
) -> tuple[Path, float | None]:
    """The SQLite file of a generated log of ``size`` events, and how long generating took
    (None when it came from the cache). ``options`` go to ``LogBuilder`` (another
    catalogue size); ``name`` then tells their cached files apart."""
    CACHE.mkdir(exist_ok=True)
    path = CACHE / f"{name or f'timeline-{size}'}-seed{seed}-v{GENERATOR_VERSION}.db"
    if path.exists() and not regenerate:
        return path, None
    partial = path.with_suffix(".partial")
    for stale in (path, partial, *CACHE.glob(partial.name + "-*")):
        stale.unlink(missing_ok=True)
    started = time.perf_counter()
    app = open_app(f"sqlite:///{partial}")
    builder = LogBuilder(app, seed, **options)
    builder.setup()

    tty = sys.stdout.isatty()
    shown = [0]

    def report(count: int) -> None:
        if not tty and count - shown[0] < size // 10:
            return
        shown[0] = count
        rate = count / (time.perf_counter() - started)
        line = f"  generating {size:,} events: {count:,} ({rate:,.0f}/s)"
        print(f"\r{line}" if tty else line, end="" if tty else "\n", flush=True)

    builder.run(size, progress=report)
    close(app)
    elapsed = time.perf_counter() - started
    print(
        ("\r" if tty else "") + f"  generated {builder.count:,} events in {elapsed:.1f}s" + " " * 20
    )
    with sqlite3.connect(partial) as conn:  # fold the WAL in: the file moves alone
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.execute("PRAGMA journal_mode=DELETE")
    os.replace(partial, path)
    return path, elapsed


def close(app: RulelogApp) -> None:
    """Close the application and its connection pool (``close`` alone keeps the pool)."""
    app.close()
    app.recorder.datastore.engine.dispose()  # type: ignore[attr-defined]


# ----------------------------------------------------------------- measuring

CLOCKS = ("wall", "cpu")


@dataclass
class Timing:
    """One measurement on both clocks: wall time, and this process's CPU time
    (which leaves out waiting for a CPU a neighbour holds, or for the disk)."""

    wall: float
    cpu: float

    def on(self, clock: str) -> float:
        return self.wall if clock == "wall" else self.cpu


def cpu_seconds() -> float:
    """This process's CPU time and that of its children that have ended: a rebuild
    reads the log in a child interpreter (``projections/log_pipe.py``)."""
    times = os.times()
    return time.process_time() + times.children_user + times.children_system


class Stopwatch:
    def __enter__(self) -> Stopwatch:
        self.wall, self.cpu = time.perf_counter(), cpu_seconds()
        return self

    def __exit__(self, *_: object) -> None:
        self.timing = Timing(time.perf_counter() - self.wall, cpu_seconds() - self.cpu)


@dataclass
class Figures:
    size: int
    head: int
    megabytes: float
    generated_s: float | None
    every: int
    load: tuple[float, float]
    raw: Timing
    rebuild: Timing
    read_k: list[Timing]
    as_of: list[Timing]
    as_of_view: list[Timing]


def p99(values: list[float]) -> float:
    """Nearest-rank 99th percentile (the 198th of 200 samples)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.99 * len(ordered)) - 1)]


def raw_pass(app: RulelogApp) -> Timing:
    """Reading and decoding the whole log once."""
    with Stopwatch() as watch:
        for _ in read_log(app):
            pass
    return watch.timing


def fastest(timings: list[Timing]) -> Timing:
    return Timing(min(t.wall for t in timings), min(t.cpu for t in timings))


def measure(
    path: Path,
    size: int,
    samples: int,
    every: int | None,
    seed: int,
    generated_s: float | None,
    repeat: int,
    delta_every: int | None = None,
) -> Figures:
    app = open_app(f"sqlite:///{path}")
    timeline = open_timeline(app)
    if every:
        timeline.every = every
    if delta_every:
        timeline.delta_every = delta_every
    k = timeline.every
    head = last_position(app)
    rng = random.Random(seed)
    load_before = os.getloadavg()[0]

    # Raw pass and rebuild alternate, ``repeat`` times each, and the fastest of
    # each counts: a neighbour's load on a shared machine only ever adds time.
    raws, rebuilds = [], []
    for _ in range(repeat):
        raws.append(raw_pass(app))
        with Stopwatch() as watch:
            timeline.rebuild()
        rebuilds.append(watch.timing)
    raw, rebuild = fastest(raws), fastest(rebuilds)

    positions = [rng.randint(1, head) for _ in range(samples)]
    starts = [rng.randint(1, max(1, head - k + 1)) for _ in range(samples)]
    for position in positions[:5]:  # warm up: connections, caches, lazy imports
        live_view(timeline.state_at(position), "release")
    read_k, as_of, as_of_view = [], [], []
    for position, start in zip(positions, starts, strict=True):
        with Stopwatch() as state_watch:
            state = timeline.state_at(position)
        with Stopwatch() as view_watch:
            live_view(state, "release")
        with Stopwatch() as read_watch:
            list(read_log(app, start=start, stop=start + k - 1))
        as_of.append(state_watch.timing)
        as_of_view.append(
            Timing(
                state_watch.timing.wall + view_watch.timing.wall,
                state_watch.timing.cpu + view_watch.timing.cpu,
            )
        )
        read_k.append(read_watch.timing)
    close(app)
    return Figures(
        size=size,
        head=head,
        megabytes=path.stat().st_size / 1e6,
        generated_s=generated_s,
        every=k,
        load=(load_before, os.getloadavg()[0]),
        raw=raw,
        rebuild=rebuild,
        read_k=read_k,
        as_of=as_of,
        as_of_view=as_of_view,
    )


def ms(value: float) -> str:
    return f"{value * 1000:8.1f}"


def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def report(results: list[Figures], clock: str) -> None:
    def med(values: list[Timing]) -> float:
        return statistics.median(v.on(clock) for v in values)

    def high(values: list[Timing]) -> float:
        return p99([v.on(clock) for v in values])

    print(f"\n== {clock} time ==")
    print("\nas-of view at random past positions (ms)")
    print(
        f"{'events':>10} {'read K med':>10} {'p99':>8} {'state_at med':>12} {'p99':>8}"
        f" {'+view med':>9} {'p99':>8}"
    )
    for f in results:
        print(
            f"{f.head:10,} {ms(med(f.read_k)):>10} {ms(high(f.read_k))}"
            f" {ms(med(f.as_of)):>12} {ms(high(f.as_of))}"
            f" {ms(med(f.as_of_view)):>9} {ms(high(f.as_of_view))}"
        )
    print("\nas-of p99 / reading K events  target < 3")
    print(f"{'events':>10} {'vs read p99':>12} {'vs read med':>12} {'+view vs med':>13}")
    for f in results:
        like = high(f.as_of) / high(f.read_k)
        strict = high(f.as_of) / med(f.read_k)
        view = high(f.as_of_view) / med(f.read_k)
        print(
            f"{f.head:10,} {like:6.2f} {verdict(like < 3):>5}"
            f" {strict:6.2f} {verdict(strict < 3):>5} {view:7.2f} {verdict(view < 3):>5}"
        )

    print("\nrebuild next to a raw read+decode pass, fastest of each (events/s)  target >= 0.5")
    print(f"{'events':>10} {'raw':>10} {'rebuild':>10} {'ratio':>6}")
    for f in results:
        raw, rebuild = f.head / f.raw.on(clock), f.head / f.rebuild.on(clock)
        ratio = rebuild / raw
        print(f"{f.head:10,} {raw:10,.0f} {rebuild:10,.0f} {ratio:6.2f} {verdict(ratio >= 0.5)}")

    if len(results) > 1:
        small, large = results[0], results[-1]
        print(f"\nas-of cost at {large.head:,} events / at {small.head:,}  target <= 1.5")
        for label, values, pick in (
            ("state_at median", lambda f: f.as_of, med),
            ("state_at p99", lambda f: f.as_of, high),
            ("+view median", lambda f: f.as_of_view, med),
            ("+view p99", lambda f: f.as_of_view, high),
        ):
            ratio = pick(values(large)) / pick(values(small))
            print(f"  {label:16} {ratio:6.2f} {verdict(ratio <= 1.5)}")


def describe(results: list[Figures]) -> None:
    print()
    print(f"{'events':>10} {'db MB':>7} {'generated':>10} {'K':>5} {'load avg (1 min)':>17}")
    for f in results:
        gen = f"{f.generated_s:.0f}s" if f.generated_s is not None else "cached"
        load = f"{f.load[0]:.1f} -> {f.load[1]:.1f}"
        print(f"{f.head:10,} {f.megabytes:7.0f} {gen:>10} {f.every:5} {load:>17}")
    cores = os.cpu_count() or 1
    if max(max(f.load) for f in results) > cores:
        print(
            f"note: the load average exceeded the {cores} cores: other processes competed"
            " for the CPU, so wall times are inflated; the CPU-time figures are steadier"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes",
        default="100000,1000000",
        help="comma-separated log sizes in events (default: 100000,1000000)",
    )
    parser.add_argument("--samples", type=int, default=200, help="random past positions")
    parser.add_argument(
        "--every",
        type=int,
        default=None,
        help="checkpoint interval K (default: RULELOG_CHECKPOINT_EVERY or 1000)",
    )
    parser.add_argument(
        "--delta-every",
        type=int,
        default=None,
        help="events between deltas D (default: the timeline's, 128)",
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--repeat", type=int, default=2, help="raw passes and rebuilds per size (fastest counts)"
    )
    parser.add_argument("--regenerate", action="store_true", help="ignore cached logs")
    args = parser.parse_args()
    sizes = sorted(int(s) for s in args.sizes.split(","))
    results = []
    for size in sizes:
        print(f"log of {size:,} events")
        path, generated = cached_log(size, args.seed, args.regenerate)
        started = time.perf_counter()
        results.append(
            measure(
                path,
                size,
                args.samples,
                args.every,
                args.seed,
                generated,
                args.repeat,
                args.delta_every,
            )
        )
        print(f"  measured in {time.perf_counter() - started:.0f}s")
    describe(results)
    for clock in CLOCKS:
        report(results, clock)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
