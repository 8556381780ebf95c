"""A big store: a serving node's start, a list command, an import and a rebuild.

    .venv/bin/python bench/bigstore.py [--events 5000000] [--rules 100000] [--releases 10000]
                                       [--seed 1] [--regenerate] [--log FILE] [--import-only]

On a generated SQLite store of ``--rules`` rules, ``--releases`` releases at
the import (more stay live while mapped: the count is printed) and
``--events`` events (``bench/timeline_log.py``'s mix after an import of that
catalogue; generated on first use, then cached under ``bench/.cache/``), each
command runs as the real CLI process a release engineer would start, measured
in the same run:

  * rebuild: ``rulelog projections rebuild`` in events/s (wall, and the
    child's CPU time), with its progress on stderr; baseline: a raw pass
    reading and decoding the same log (``read_log``) in this process.
    Target: ratio >= 0.5. The rebuild writes the checkpoints the next two use;
  * serving node: ``rulelog serve public --workers 1`` started on the store,
    seconds until ``/__heartbeat__`` answers 200 (target <= 10 s), and the
    resident memory of each of its processes then, current and peak
    (``/proc``: VmRSS, VmHWM; target <= 1 GB);
  * ``rulelog rules list --json``: wall time (target <= 1 s), from the
    rules' rows the rebuild leaves;
  * ``rulelog import`` of the catalogue's snapshot (``bench/generate.py``,
    cached as JSON) into a fresh store: wall time and the process's peak
    resident memory (target <= 300 MB); then, on the store it made, the
    first ``rulelog rules list --json`` (it folds the whole import into the
    timeline: its wall time and peak memory). ``--import-only`` measures
    just these two, without generating the big store.

Peak memory of a CLI process is its ``VmHWM``, read every 20 ms while it runs. The
generated mix is seeded (``--seed``). Nothing here is a test: no timing is
asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.generate import snapshot
from bench.serve import RULELOG, free_port, run_cli
from bench.stores import fresh_store
from bench.timeline import CACHE, cached_log, close, raw_pass
from rulelog.api.config import open_app, open_timeline
from rulelog.projections.log import last_position

#: Oldest releases a clean-up looks at: every release of the imported catalogue is
#: mapped by some rule at first, and a full scan per new release would take hours.
CLEANUP_SCAN = 64
ADMIN = "bench"


@dataclass
class Finished:
    """A CLI process that ran to its end: wall seconds, CPU seconds, peak resident MB."""

    wall: float
    cpu: float
    peak_mb: float


def _peak_watcher(pid: int) -> tuple[threading.Thread, list[float]]:
    """A thread noting the process's VmHWM (MB) every 20 ms until it exits.

    Not ``ru_maxrss``: Linux carries the high-water mark of the memory a child
    had before its ``exec`` over into it, and a child of this process starts
    as a copy of it (hundreds of MB after the raw pass), so ``ru_maxrss``
    reported this process's size, not the command's.
    """
    seen: list[float] = [0.0]

    def watch() -> None:
        status = Path(f"/proc/{pid}/status")
        while True:
            try:
                fields = dict(line.split(":", 1) for line in status.read_text().splitlines())
            except (OSError, ValueError):
                return
            if "VmHWM" not in fields:  # exited (a zombie has no memory)
                return
            seen[0] = max(seen[0], int(fields["VmHWM"].split()[0]) / 1024)
            time.sleep(0.02)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread, seen


def run_measured(url: str, *args: str, stdout: int | None = subprocess.DEVNULL) -> Finished:
    """Run ``rulelog ARGS`` on the store at ``url`` (stderr shown: progress)."""
    env = {**os.environ, "RULELOG_DATABASE_URL": url}
    started = time.perf_counter()
    process = subprocess.Popen([RULELOG, *args], env=env, stdout=stdout)
    watcher, peak = _peak_watcher(process.pid)
    _, status, usage = os.wait4(process.pid, 0)
    watcher.join()
    wall = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode:
        raise SystemExit(f"rulelog {' '.join(args)} failed ({process.returncode})")
    return Finished(wall, usage.ru_utime + usage.ru_stime, peak[0])


def cached_store(events: int, rules: int, releases: int, seed: int, regenerate: bool) -> Path:
    path, generated = cached_log(
        events,
        seed,
        regenerate,
        name=f"bigstore-{events}-{rules}rules-{releases}releases",
        rules=rules,
        releases=releases,
        cleanup_scan=CLEANUP_SCAN,
    )
    print(f"store: {path.name} ({path.stat().st_size / 1e9:.2f} GB)", end="")
    print(f", generated in {generated:.0f}s" if generated is not None else " (cached)")
    return path


def cached_snapshot(rules: int, releases: int, seed: int) -> Path:
    """The catalogue's Balrog snapshot as a JSON file, written once."""
    path = CACHE / f"bigstore-snapshot-{rules}rules-{releases}releases-seed{seed}.json"
    if not path.exists():
        partial = path.with_suffix(".partial")
        partial.write_text(json.dumps(snapshot(rules, releases, seed=seed)))
        os.replace(partial, path)
    return path


# ------------------------------------------------------------------ measures


def rebuild(url: str) -> tuple[int, float, float, Finished]:
    """Events, raw pass wall and CPU seconds, and the rebuild command's figures."""
    app = open_app(url)
    head = last_position(app)
    print(f"raw read-and-decode pass over {head:,} events ...", flush=True)
    raw = raw_pass(app)
    close(app)
    print("rulelog projections rebuild ...", flush=True)
    return head, raw.wall, raw.cpu, run_measured(url, "projections", "rebuild")


def _process_tree(pid: int) -> list[int]:
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        for task in Path(f"/proc/{current}/task").iterdir():
            todo.extend(int(c) for c in (task / "children").read_text().split())
    return found


def _memory_mb(pid: int) -> tuple[float, float]:
    """(VmRSS, VmHWM) of a process in MB: resident now, and at its peak."""
    fields = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
    )
    return tuple(int(fields[k].split()[0]) / 1024 for k in ("VmRSS", "VmHWM"))  # type: ignore[return-value]


def _heartbeat(base: str) -> int:
    try:
        with urllib.request.urlopen(f"{base}/__heartbeat__", timeout=5) as answer:
            return answer.status
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return 0


def serving_node(url: str, log_path: str) -> tuple[float, list[tuple[float, float]]]:
    """Seconds from start until the heartbeat is 200, and each process's (RSS, peak) MB."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "RULELOG_DATABASE_URL": url}
    command = [RULELOG, "serve", "public", "--port", str(port), "--workers", "1"]
    with open(log_path, "ab") as sink:
        started = time.perf_counter()
        process = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT, env=env)
    try:
        while _heartbeat(base) != 200:
            if process.poll() is not None or time.perf_counter() - started > 900:
                raise SystemExit(f"the serving node did not get ready; see {log_path}")
            time.sleep(0.05)
        ready = time.perf_counter() - started
        return ready, [_memory_mb(pid) for pid in _process_tree(process.pid)]
    finally:
        process.terminate()
        process.wait(timeout=30)


def rules_list(url: str) -> tuple[Finished, int]:
    """``rules list --json``, and how many rules it listed (counted afterwards)."""
    with tempfile.TemporaryFile() as out:
        finished = run_measured(url, "rules", "list", "--json", stdout=out.fileno())
        out.seek(0)
        return finished, len(json.load(out))


def live_releases(url: str) -> int:
    """How many releases the store holds now (the churn keeps more than ``--releases``
    live while every old one is still mapped by some rule)."""
    app = open_app(url)
    count = len(open_timeline(app).current().releases)
    close(app)
    return count


def import_snapshot(path: Path) -> tuple[Finished, Finished, int]:
    """``rulelog import`` of the snapshot into a fresh store, by an admin; then the first
    ``rules list --json`` on that store (the timeline's catch-up over the import), and
    how many rules it listed."""
    with fresh_store("sqlite") as url:
        run_cli(url, "users", "add", ADMIN, "--admin")
        print(f"rulelog import {path.name} ...", flush=True)
        imported = run_measured(url, "import", str(path), "--as", ADMIN)
        print("rulelog rules list --json (after the import) ...", flush=True)
        listed, count = rules_list(url)
        return imported, listed, count


def import_lines(imported: Finished, listed: Finished, count: int) -> list[tuple[str, str, str]]:
    ok = imported.peak_mb <= 300
    return [
        ("import of the snapshot, s", f"{imported.wall:.1f}", f"(cpu {imported.cpu:.1f} s)"),
        ("  its peak memory, MB", f"{imported.peak_mb:,.0f}", f"<= 300 {verdict(ok)}"),
        (f"then rules list --json ({count:,} rules), s", f"{listed.wall:.1f}", ""),
        ("  its peak memory, MB", f"{listed.peak_mb:,.0f}", ""),
    ]


def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=5_000_000)
    parser.add_argument("--rules", type=int, default=100_000)
    parser.add_argument("--releases", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--regenerate", action="store_true", help="ignore the cached store")
    parser.add_argument("--log", default=os.devnull, help="the serving node's log lines")
    parser.add_argument(
        "--import-only", action="store_true", help="measure only the import (no big store)"
    )
    args = parser.parse_args()
    if args.import_only:
        load_before = os.getloadavg()[0]
        figures = import_snapshot(cached_snapshot(args.rules, args.releases, args.seed))
        print(f"\nload average (1 min) {load_before:.1f} -> {os.getloadavg()[0]:.1f}")
        for measure, value, against in import_lines(*figures):
            print(f"{measure:44} {value:>12}  {against}")
        return 0

    path = cached_store(args.events, args.rules, args.releases, args.seed, args.regenerate)
    url = f"sqlite:///{path}"
    load_before = os.getloadavg()[0]
    head, raw_wall, raw_cpu, rebuilt = rebuild(url)
    print("rulelog serve public ...", flush=True)
    ready, processes = serving_node(url, args.log)
    print("rulelog rules list --json ...", flush=True)
    listed, count = rules_list(url)
    releases = live_releases(url)
    imported = import_snapshot(cached_snapshot(args.rules, args.releases, args.seed))
    load_after = os.getloadavg()[0]

    print(
        f"\n{head:,} events, {count:,} live rules, {releases:,} live releases;"
        f" load average (1 min)"
        f" {load_before:.1f} -> {load_after:.1f} on {os.cpu_count()} cores\n"
    )
    print(f"{'measure':44} {'value':>12}  {'target / baseline'}")

    def line(measure: str, value: str, against: str) -> None:
        print(f"{measure:44} {value:>12}  {against}")

    for clock, raw_s, rebuild_s in (
        ("wall", raw_wall, rebuilt.wall),
        ("cpu", raw_cpu, rebuilt.cpu),
    ):
        ratio = raw_s / rebuild_s
        # The target is on speed (wall); the CPU ratio says how much more work the
        # rebuild does than the raw pass, spread over its two processes.
        target = f">= 0.5 {verdict(ratio >= 0.5)}" if clock == "wall" else "(work; no target)"
        line(f"raw read-and-decode, events/s ({clock})", f"{head / raw_s:,.0f}", "baseline")
        line(f"projections rebuild, events/s ({clock})", f"{head / rebuild_s:,.0f}", "")
        line(f"  rebuild / raw ({clock})", f"{ratio:.2f}", target)
    line("  rebuild peak memory, MB", f"{rebuilt.peak_mb:,.0f}", "")
    line("serving node ready (heartbeat 200), s", f"{ready:.1f}", f"<= 10 {verdict(ready <= 10)}")
    for number, (rss, peak) in enumerate(processes):
        ok = max(rss, peak) <= 1000
        measure = f"  process {number + 1}: resident now / peak, MB"
        line(measure, f"{rss:,.0f} / {peak:,.0f}", f"<= 1000 {verdict(ok)}")
    line("rules list --json, s", f"{listed.wall:.2f}", f"<= 1 {verdict(listed.wall <= 1)}")
    line("  its peak memory, MB", f"{listed.peak_mb:,.0f}", "")
    for measure, value, against in import_lines(*imported):
        line(measure, value, against)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
