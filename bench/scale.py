"""Several serving nodes on one PostgreSQL log, under write load and through an outage.

    .venv/bin/python bench/scale.py [--nodes 3] [--rate 50] [--write-seconds 60]
                                    [--quiet-seconds 20] [--cut-seconds 10]

Starts N independent ``rulelog serve public`` processes (one worker each) on a
fresh PostgreSQL schema holding the fixture; they reach the database through
a TCP proxy (``tests/tcp_proxy.py``) that the benchmark can cut. Then:

1. **quiet**: wrk (one per node, mix (b) of ``bench/serve.py``, answers that
   are 200) for ``--quiet-seconds``: serving throughput without writes;
2. **writes**: the same load while admin clients (``RulelogApp``, as the
   admin server; a process per edited rule, so one slow commit does not hold
   back the others) commit ``--rate`` rule changes per second
   for ``--write-seconds``, each at its due time; every node is probed
   continuously for the log position it serves (``X-Rulelog-Position``), so
   each commit's commit -> served latency is known per node (p50/p99/max),
   from the commit's return to the first answer at its event's position;
   throughput during writes is reported against the quiet figure (target
   >= 0.8), and how long the commits took;
3. **outage**: under load, the proxy is cut for ``--cut-seconds`` while the
   admin client keeps committing (at a fifth of the rate): errors (target 0),
   what ``__heartbeat__`` said during the cut (target: 502, stale) and after,
   and per node the time from the proxy's return until it serves the last
   change committed during the cut (target <= 2 s).

Needs wrk (``apt-get install -y wrk``) and PostgreSQL
(``RULELOG_BENCH_POSTGRES_URL``, default the local test server). Nothing here
is a test: no timing is asserted.
"""

from __future__ import annotations

import argparse
import http.client
import multiprocessing
import os
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


from bench.scale_apart import Probe, Probes, ProxyProcess, autogroup, own_session
from bench.serve import (
    DATA,
    RULELOG,
    _serving,
    finish_wrk,
    free_port,
    random_urls,
    run_cli,
    start_wrk,
)
from bench.stores import fresh_store, postgres_available
from rulelog.api.config import open_app
from rulelog.domain import ids

#: Rules the admin client edits in turn (their comments: served answers carry the
#: rule's data_version, so each change is one every node must pick up).
EDITED_RULES = (1, 2, 3, 4, 5)


class Writer:
    """The admin clients, a process each (each with a core's worth of interpreter, as
    separate admin server workers would): ``rate`` rule changes per second between them
    for ``seconds``, and each commit's (time.monotonic(), position) -- a clock shared by
    every process."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.commits: list[tuple[float, int]] = []
        #: Seconds each commit took, from the call to its return.
        self.took: list[float] = []
        self.failures = 0
        self._processes: list[Any] = []
        self._results: Any = None

    def start(self, rate: float, seconds: float) -> None:
        """Start writing once every child process has its store open (returns then).

        Commit n is due at ``n / rate`` seconds from a start they share; rule
        ``EDITED_RULES[n % 5]``'s own process makes it, at once when late. Sequential
        commits could not keep the pace on a busy machine: each is several round
        trips to PostgreSQL, and one late commit delayed all the rest, which were never
        caught up. A client per rule keeps each rule's edits in order (its
        data_version) while commits of different rules overlap; they still meet at the
        log's table lock, which serialises the inserts themselves.
        """
        context = multiprocessing.get_context("spawn")
        self._results = context.Queue()
        start = context.Value("d", 0.0)
        go = context.Event()
        self._processes = [
            context.Process(
                target=_edit,
                args=(self.url, slot, rate, seconds, self._results, start, go),
                daemon=True,
            )
            for slot in range(len(EDITED_RULES))
        ]
        for process in self._processes:
            process.start()
        for _ in self._processes:
            assert self._results.get(timeout=120) == "ready"
        start.value = time.monotonic()
        go.set()

    def join(self) -> None:
        for _ in self._processes:
            commits, took, failures = self._results.get()
            self.commits += commits
            self.took += took
            self.failures += failures
        self.commits.sort()
        for process in self._processes:
            process.join()


def _edit(
    url: str, slot: int, rate: float, seconds: float, results: Any, start: Any, go: Any
) -> None:
    """Commits ``slot``, ``slot + 5``, ... of ``Writer.start``, on rule ``EDITED_RULES[slot]``.

    The time recorded is when the commit returned; the position, that of the event it
    appended (as the save returned it: the log's head could be a later commit's)."""
    own_session()
    app = open_app(url)
    rule_id = EDITED_RULES[slot]
    version = app.get_rule(rule_id).data_version
    positions = _positions_saved(app, ids.rule_id(rule_id))
    commits, took, failures = [], [], 0
    results.put("ready")
    go.wait()
    started, n = start.value, slot
    while (due := started + n / rate) - started < seconds and (
        (now := time.monotonic()) - started < seconds
    ):  # a commit still late at the end is not made: the rate counts what was
        if due > now:
            time.sleep(due - now)
        begun = time.monotonic()
        try:
            app.update_rule(rule_id, version, {"comment": f"n{n}"}, "bench")
            done = time.monotonic()
            version += 1
            commits.append((done, positions[-1]))
            took.append(done - begun)
        except Exception:
            failures += 1
            version = app.get_rule(rule_id).data_version
        n += len(EDITED_RULES)
    results.put((commits, took, failures))


def _positions_saved(app: Any, originator: Any) -> list[int]:
    """The positions the store gave ``originator``'s events, as ``app`` saves them.

    Taken from what ``save`` returns (each recording's notification id), so the
    client learns its commit's position without a query of its own: reading it
    back cost 0.4 ms of CPU and a round trip per commit, on the cores the nodes
    are measured on.
    """
    positions: list[int] = []
    save = app.save

    def recording(*aggregates: Any, **options: Any) -> Any:
        recordings = save(*aggregates, **options)
        mine = [r.notification.id for r in recordings if r.notification.originator_id == originator]
        if mine:
            positions.append(max(mine))
        return recordings

    app.save = recording
    return positions


def through(proxy: ProxyProcess, url: str) -> str:
    parts = urlsplit(url)
    user = f"{parts.username}@" if parts.username else ""
    return urlunsplit(parts._replace(netloc=f"{user}127.0.0.1:{proxy.port}"))


@contextmanager
def nodes(url: str, count: int, poll: float, log_path: str) -> Iterator[list[str]]:
    """``count`` separate ``rulelog serve public`` processes, one worker each."""
    env = {**os.environ, "RULELOG_DATABASE_URL": url}
    with ExitStack() as stack:
        bases = []
        for _ in range(count):
            port = free_port()
            command = [
                *(RULELOG, "serve", "public", "--port", str(port), "--workers", "1"),
                *("--poll-interval", str(poll)),
            ]
            serving = _serving(command, env, log_path, port, own_session=True)
            bases.append(stack.enter_context(serving))
        yield bases


def load(bases: list[str], urls: list[str], args: Any, seconds: float) -> dict[str, float]:
    """wrk on every node at once; summed requests/s, non-2xx/3xx and socket errors."""
    handles = [start_wrk(b, urls, 1, args.connections, seconds, own_session=True) for b in bases]
    results = [finish_wrk(h) for h in handles]
    return {
        "rps": sum(r["rps"] for r in results),
        "bad_status": sum(r["bad_status"] for r in results),
        "errors": sum(r["errors"] for r in results),
        "p99_ms": max(r["p99_us"] for r in results) / 1000,
    }


def good_urls(base: str, urls: list[str]) -> list[str]:
    """The URLs a node answers with 200 (mix (b) has Balrog's 400s by design)."""
    host = urlsplit(base).netloc
    conn = http.client.HTTPConnection(host, timeout=10)
    kept = []
    for url in urls:
        conn.request("GET", url)
        answer = conn.getresponse()
        answer.read()
        if answer.status == 200:
            kept.append(url)
    conn.close()
    return kept


def latencies(probes: list[Probe], commits: list[tuple[float, int]]) -> tuple[list[float], int]:
    """Commit -> served seconds for every (commit, node); and how many were never served."""
    found, missing = [], 0
    for committed, position in commits:
        for probe in probes:
            served = probe.served_at(position, committed - 1.0)
            if served is None:
                missing += 1
            else:
                found.append(max(0.0, served - committed))
    return found, missing


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nodes", type=int, default=3)
    parser.add_argument("--rate", type=float, default=50.0, help="rule changes per second")
    parser.add_argument("--write-seconds", type=float, default=60.0)
    parser.add_argument("--quiet-seconds", type=float, default=20.0)
    parser.add_argument("--cut-seconds", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=2, help="wrk connections per node")
    parser.add_argument("--poll-interval", type=float, default=0.2)
    parser.add_argument("--urls", type=int, default=3000)
    parser.add_argument("--log", default=os.devnull, help="where the servers' log lines go")
    args = parser.parse_args()
    if not postgres_available():
        raise SystemExit("PostgreSQL is not reachable (RULELOG_BENCH_POSTGRES_URL)")
    with fresh_store("postgres") as url:
        run_cli(url, "users", "add", "bench", "--admin")
        run_cli(url, "import", str(DATA / "fixture.json"), "--as", "bench")
        parts = urlsplit(url)
        with (
            ProxyProcess(parts.hostname or "127.0.0.1", parts.port or 5432) as proxy,
            nodes(through(proxy, url), args.nodes, args.poll_interval, args.log) as bases,
        ):
            run(args, url, proxy, bases)


def run(args: Any, url: str, proxy: ProxyProcess, bases: list[str]) -> None:
    urls = good_urls(bases[0], random_urls(args.urls))
    load(bases, urls, args, 2)  # warm-up
    probes = Probes(bases)
    writer = Writer(url)
    print(
        f"{args.nodes} nodes (rulelog serve public --workers 1 each) on PostgreSQL through a"
        f" TCP proxy; wrk 1 thread x {args.connections} connections per node, {len(urls)} URLs"
        f" answered 200; poll interval {args.poll_interval} s; {os.cpu_count()} CPUs;"
        f" autogroup {autogroup()}, every process in a session of its own"
    )
    quiet = load(bases, urls, args, args.quiet_seconds)
    print(f"load average before the writes: {os.getloadavg()[0]:.2f}")
    writer.start(args.rate, args.write_seconds)
    busy = load(bases, urls, args, args.write_seconds)
    writer.join()
    time.sleep(2)
    seen = probes.read()
    found, missing = latencies(seen, writer.commits)
    print(f"\nquiet:  {quiet['rps']:8.0f} req/s, p99 {quiet['p99_ms']:.2f} ms (worst node)")
    print(f"writes: {busy['rps']:8.0f} req/s, p99 {busy['p99_ms']:.2f} ms (worst node)")
    print(
        f"  throughput during writes / without:  {busy['rps'] / quiet['rps']:.2f}  (target >= 0.8)"
    )
    print(
        f"  commits: {len(writer.commits)} in {args.write_seconds:g} s"
        f" ({len(writer.commits) / args.write_seconds:.1f}/s), {writer.failures} failed;"
        f" each took p50 {percentile(writer.took, 0.5) * 1000:.0f} ms,"
        f" p99 {percentile(writer.took, 0.99) * 1000:.0f} ms"
    )
    if found:
        print(
            f"  commit -> served on each node: p50 {percentile(found, 0.5) * 1000:.0f} ms,"
            f" p99 {percentile(found, 0.99) * 1000:.0f} ms, max {max(found) * 1000:.0f} ms;"
            f" {sum(x > 1 for x in found)} of {len(found) + missing} over 1 s,"
            f" {missing} never seen (target: all within 1 s)"
        )
    print(
        f"  errors: wrk {busy['errors'] + quiet['errors']} socket,"
        f" {busy['bad_status'] + quiet['bad_status']} non-2xx;"
        f" probes {sum(p.errors for p in seen)}"
    )
    outage(args, url, proxy, bases, urls, probes)


def outage(
    args: Any, url: str, proxy: ProxyProcess, bases: list[str], urls: list[str], probes: Probes
) -> None:
    writer = Writer(url)  # the admin side keeps its database: only the nodes are cut off
    before = sum(p.errors for p in probes.read())
    handles = [
        start_wrk(b, urls, 1, args.connections, args.cut_seconds + 6, own_session=True)
        for b in bases
    ]
    time.sleep(2)
    cut_at = time.monotonic()
    proxy.cut()
    writer.start(max(1.0, args.rate / 5), args.cut_seconds - 1)
    time.sleep(args.cut_seconds)
    proxy.restore()
    restored = time.monotonic()
    writer.join()
    results = [finish_wrk(h) for h in handles]
    deadline = time.monotonic() + 10
    seen = probes.read()
    while time.monotonic() < deadline and not all(
        any(t > restored + 2 for t, _, _ in p.beats) for p in seen
    ):
        time.sleep(0.1)
        seen = probes.read()
    last = writer.commits[-1][1] if writer.commits else 0
    print(
        f"\noutage: proxy cut for {args.cut_seconds:g} s under load, {len(writer.commits)}"
        " changes committed meanwhile"
    )
    print(
        f"  wrk: {sum(r['rps'] for r in results):.0f} req/s over the whole window,"
        f" {sum(r['errors'] for r in results)} socket errors,"
        f" {sum(r['bad_status'] for r in results)} non-2xx; probe errors"
        f" {sum(p.errors for p in seen) - before}  (target 0)"
    )
    for probe in seen:
        during = {s for t, s, _ in probe.beats if cut_at + 1.5 < t < restored}
        stale = next((b for t, s, b in probe.beats if cut_at < t < restored and s == 502), "-")
        after = [s for t, s, _ in probe.beats if t > restored + 2]
        caught = probe.served_at(last, restored)
        took = f"{caught - restored:.2f} s" if caught is not None else "not within the run"
        print(
            f"  {probe.base}: heartbeat during the cut {sorted(during)} ({stale!r}),"
            f" after {sorted(set(after))}; serves the last change {took} after the return"
            " (target <= 2 s)"
        )
    probes.stop()


if __name__ == "__main__":
    main()
