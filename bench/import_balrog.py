"""``import-balrog`` throughput, peak memory and catch-up, next to bare eventsourcing.

    .venv/bin/python bench/import_balrog.py [--rows 1000000] [--catch-up 1000]

In one run, on a generated Balrog SQLite database (cached in bench/.cache/):
  * import: ``rulelog import-balrog`` (a subprocess, as a user runs it) into a
    fresh SQLite store, in events/s, with the child's peak RSS;
    baseline: the same number of events with payloads of the same shape
    appended by a bare ``eventsourcing`` application in batches of 2,000
    (one ``save`` per batch), events/s; ratio = rulelog / baseline (target >= 0.7);
  * catch-up: ``--catch-up`` new history rows written to the Balrog database
    after the import, then ``import-balrog --since-last``, wall time (target <= 5 s).
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import MetaData, create_engine, insert, update

from bench.ingest import BareRecord, bare_app
from tests.balrog.scenarios import blob, rule
from tests.balrog.writer import create_balrog_db

CACHE = Path(__file__).resolve().parent / ".cache"
RULELOG = shutil.which("rulelog", path=str(Path(sys.executable).parent)) or "rulelog"
RELEASES = 50
START_MS = 1_600_000_000_000
CHUNK = 5000


def generate(path: Path, rows: int, seed: int = 7) -> None:
    """A Balrog database whose history tables hold ``rows`` rows, written in bulk.

    Rules are created (two history rows each, as Balrog writes an insert) and
    then edited at random; every 50th change is a scheduled change instead:
    scheduled, signed off and enacted (seven history rows across the scheduled
    change, signoff and rule tables).
    """
    rng = random.Random(seed)
    url = f"sqlite:///{path}"
    engine = create_balrog_db(url)
    md = MetaData()
    md.reflect(engine)
    t = md.tables
    rule_count = max(10, rows // 50)
    now = START_MS
    current: dict[int, dict[str, Any]] = {}
    history: list[dict[str, Any]] = []
    sc_hist: list[dict[str, Any]] = []
    cond_hist: list[dict[str, Any]] = []
    so_hist: list[dict[str, Any]] = []
    scs: list[dict[str, Any]] = []
    conds: list[dict[str, Any]] = []
    signoffs: list[dict[str, Any]] = []
    names = [f"Firefox-{100 + i}.0-build1" for i in range(RELEASES)]
    with engine.begin() as conn:
        conn.execute(
            insert(t["releases"]),
            [
                {
                    "name": n,
                    "product": "Firefox",
                    "read_only": False,
                    "data": json.dumps(blob(n)),
                    "data_version": 1,
                }
                for n in names
            ],
        )
    written = 0
    sc_id = 0

    def flush(conn: Any) -> None:
        for table, batch in (
            ("rules_history", history),
            ("rules_scheduled_changes_history", sc_hist),
            ("rules_scheduled_changes_conditions_history", cond_hist),
            ("rules_scheduled_changes_signoffs_history", so_hist),
        ):
            if batch:
                # executemany takes its columns from the first row: give every row all of them
                names = [c.name for c in t[table].c if c.name != "change_id"]
                conn.execute(insert(t[table]), [{n: r.get(n) for n in names} for r in batch])
                batch.clear()

    with engine.begin() as conn:
        while written < rows:
            now += rng.choice((1, 10, 1000))
            if len(current) < rule_count:
                rule_id = len(current) + 1
                row = {
                    "rule_id": rule_id,
                    **rule(
                        rng.choice(names),
                        priority=rng.randint(0, 999),
                        channel=rng.choice(["release", "beta", "esr"]),
                    ),
                    "data_version": 1,
                }
                current[rule_id] = row
                history.append({"changed_by": "rm", "timestamp": now - 1, "rule_id": rule_id})
                history.append({"changed_by": "rm", "timestamp": now, **row})
                written += 2
            elif written % 50 == 0:
                sc_id += 1
                rule_id = rng.randint(1, rule_count)
                old = current[rule_id]
                new = {
                    **old,
                    "backgroundRate": rng.randint(0, 100),
                    "data_version": old["data_version"] + 1,
                }
                base = {f"base_{k}": v for k, v in old.items() if k != "data_version"}
                base["base_backgroundRate"] = new["backgroundRate"]
                sc = {
                    "sc_id": sc_id,
                    "scheduled_by": "rm",
                    "complete": False,
                    "change_type": "update",
                    **base,
                    "base_data_version": old["data_version"],
                    "data_version": 1,
                }
                cond = {"sc_id": sc_id, "when": now + 60_000, "data_version": 1}
                sc_hist.extend(
                    [
                        {"changed_by": "rm", "timestamp": now - 1, "sc_id": sc_id},
                        {"changed_by": "rm", "timestamp": now, **sc},
                    ]
                )
                cond_hist.extend(
                    [
                        {"changed_by": "rm", "timestamp": now - 1, "sc_id": sc_id},
                        {"changed_by": "rm", "timestamp": now, **cond},
                    ]
                )
                so = {"sc_id": sc_id, "username": "rm", "role": "relman"}
                so_hist.extend(
                    [
                        {
                            "changed_by": "rm",
                            "timestamp": now - 1,
                            "sc_id": sc_id,
                            "username": "rm",
                        },
                        {"changed_by": "rm", "timestamp": now, **so},
                    ]
                )
                now += 60_000
                done = {**sc, "complete": True, "data_version": 2}
                sc_hist.append({"changed_by": "rm", "timestamp": now, **done})
                cond_hist.append({"changed_by": "rm", "timestamp": now, **cond, "data_version": 2})
                history.append({"changed_by": "rm", "timestamp": now, **new})
                current[rule_id] = new
                scs.append(done)
                conds.append({**cond, "data_version": 2})
                signoffs.append(so)
                written += 7
            else:
                rule_id = rng.randint(1, rule_count)
                old = current[rule_id]
                new = {
                    **old,
                    "priority": rng.randint(0, 999),
                    "data_version": old["data_version"] + 1,
                }
                current[rule_id] = new
                history.append(
                    {"changed_by": rng.choice(["rm", "ed", "bot"]), "timestamp": now, **new}
                )
                written += 1
            if len(history) >= CHUNK:
                flush(conn)
        flush(conn)
        for table, batch in (
            ("rules", list(current.values())),
            ("rules_scheduled_changes", scs),
            ("rules_scheduled_changes_conditions", conds),
            ("rules_scheduled_changes_signoffs", signoffs),
        ):
            for start in range(0, len(batch), CHUNK):
                conn.execute(insert(t[table]), batch[start : start + CHUNK])
    engine.dispose()


def add_rows(path: Path, count: int) -> None:
    """``count`` new rule edits (the writes Balrog made while the import ran)."""
    engine = create_engine(f"sqlite:///{path}")
    md = MetaData()
    md.reflect(engine, only=["rules", "rules_history"])
    rules, hist = md.tables["rules"], md.tables["rules_history"]
    with engine.begin() as conn:
        latest = conn.execute(hist.select().order_by(hist.c.change_id.desc()).limit(1)).first()
        now = int(latest.timestamp) + 1000
        rows = {r.rule_id: dict(r._mapping) for r in conn.execute(rules.select().limit(count))}
        for i in range(count):
            rule_id = list(rows)[i % len(rows)]
            row = rows[rule_id]
            row.update(priority=(row["priority"] + 1) % 1000, data_version=row["data_version"] + 1)
            conn.execute(insert(hist).values(changed_by="late", timestamp=now + i, **row))
            conn.execute(update(rules).where(rules.c.rule_id == rule_id).values(**row))
    engine.dispose()


def run_child(args: list[str]) -> tuple[float, int, str]:
    """(wall seconds, peak RSS in MB of the largest child so far, stdout) of a command."""
    start = time.perf_counter()
    child = subprocess.run(args, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - start
    if child.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed: {child.stderr.strip()}")
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # KB on Linux
    return seconds, peak_kb // 1024, child.stdout


def bare_rate(url: str, events: int) -> float:
    """Bare eventsourcing: ``events`` events of rule-sized payloads, saved 2,000 at a time."""
    app = bare_app(url)
    app.recorder.max_notification_id()
    payload = {**rule("Firefox-100.0-build1"), "data_version": 1}
    records: list[BareRecord] = []
    start = time.perf_counter()
    made = 0
    while made < events:
        batch = []
        for _ in range(min(2000, events - made)):
            if len(records) < max(10, events // 50):
                record = BareRecord(payload=dict(payload))
                records.append(record)
            else:
                record = records[made % len(records)]
                record.change({"priority": made % 1000})
            batch.append(record)
            made += 1
        app.save(*{id(r): r for r in batch}.values())
    return events / (time.perf_counter() - start)


def child(store: str, balrog: str, since_last: bool) -> None:
    """Run one import in this (child) process and print its figures as JSON."""
    from rulelog.adapters.balrog_source import BalrogSource
    from rulelog.api.config import open_app
    from rulelog.services.balrog_import import import_balrog

    app = open_app(store)
    source = BalrogSource(balrog)
    started = time.perf_counter()
    summary = import_balrog(app, source, "bench", since_last=since_last)
    seconds = time.perf_counter() - started
    source.close()
    print(
        json.dumps(
            {"seconds": seconds, "events": summary.events_total, "rows": sum(summary.rows.values())}
        )
    )


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000, help="Balrog history rows")
    parser.add_argument("--catch-up", type=int, default=1000, help="rows for --since-last")
    parser.add_argument(
        "--child", nargs=3, metavar=("STORE", "BALROG", "SINCE_LAST"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.child:
        child(args.child[0], args.child[1], args.child[2] == "1")
        return 0
    CACHE.mkdir(exist_ok=True)
    cached = CACHE / f"balrog-{args.rows}.db"
    if not cached.exists():
        started = time.perf_counter()
        generate(cached.with_suffix(".tmp"), args.rows)
        cached.with_suffix(".tmp").rename(cached)
        print(f"generated {cached} in {time.perf_counter() - started:.0f} s")
    me = [sys.executable, __file__, "--child"]
    with tempfile.TemporaryDirectory(prefix="rulelog-bench-") as folder:
        balrog = f"sqlite:///{Path(folder) / 'balrog.db'}"
        shutil.copy(cached, Path(folder) / "balrog.db")
        store = f"sqlite:///{Path(folder) / 'store.db'}"
        _wall, peak, out = run_child([*me, store, balrog, "0"])
        imported = json.loads(out)
        ours = imported["events"] / imported["seconds"]
        bare = bare_rate(f"sqlite:///{Path(folder) / 'bare.db'}", imported["events"])
        add_rows(Path(folder) / "balrog.db", args.catch_up)
        _wall, _peak, out = run_child([*me, store, balrog, "1"])
        caught = json.loads(out)
        add_rows(Path(folder) / "balrog.db", args.catch_up)
        cli_wall, _peak, _out = run_child(
            [
                RULELOG,
                "--database-url",
                store,
                "import-balrog",
                "--from",
                balrog,
                "--since-last",
                "--json",
            ]
        )
    print(f"Balrog history rows {imported['rows']}, events {imported['events']}, SQLite store")
    print(f"{'measure':34} {'rulelog':>10} {'baseline':>10} {'ratio':>6}")
    print(f"{'import events/s':34} {ours:10.0f} {bare:10.0f} {ours / bare:6.2f}")
    print(f"{'import s (read, replay, write, check)':34} {imported['seconds']:10.1f}")
    print(f"{'peak RSS MB of the import process':34} {peak:10d}   (target <= 500)")
    print(
        f"{'catch-up s, ' + str(caught['rows']) + ' rows (in process)':34} "
        f"{caught['seconds']:10.2f}   (target <= 5)"
    )
    print(
        f"{'catch-up s, the CLI command (wall)':34} {cli_wall:10.2f}   (interpreter start included)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
