"""The timeline's as-of views and rebuilds, next to reading the log, on generated logs.

    .venv/bin/python bench/timeline.py [--sizes 100000,1000000] [--samples 200] [--every K]
                                       [--seed 1] [--repeat 2] [--regenerate]

For each size it opens a SQLite log of that many events (generated on first
use, then cached under ``bench/.cache/``) and measures, in the same run:

  * as-of: ``Timeline.state_at(p)`` (one checkpoint load plus at most K events
    folded) at ``--samples`` random past positions, median and p99, alone and
    with the live view of the release channel built on top; baseline: reading
    and decoding K events, ``list(read_log(app, start=q, stop=q + K - 1))``, at
    as many random q, interleaved with the as-of samples;
  * rebuild: ``Timeline.rebuild()`` in events/s; baseline: a full pass of
    ``read_log`` over the log (read + decode), events/s; the two alternate
    ``--repeat`` times and the fastest of each counts.

Targets: as-of p99 under 3x the cost of reading K events (shown against both
the p99 and the median of the reads); as-of cost at the largest size within
1.5x of that at the smallest; rebuild at least 0.5x the raw read+decode
throughput. Every figure is given on wall time and on the process's CPU time.

The logs are built in bulk with the real domain aggregates, in the mix a
Balrog deployment produces: an imported catalogue, then releases created,
rebuilt (blobs copied from the fixture, so sizes are realistic), locked and
cleaned up; rules edited and remapped; scheduled changes made, signed off,
modified, enacted and cancelled; uptake reports and emergency shutoffs; with
every index aggregate (sequences, release usage, pending-target locks, alias
claims) a command would save alongside. Events go to the store in
chronological order, a few thousand per save, so a million events take
minutes rather than the hours one command per transaction would.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import sqlite3
import statistics
import sys
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from eventsourcing.domain import Aggregate

from bench.generate import FIXTURE, snapshot
from rulelog.api.config import open_app, open_timeline
from rulelog.domain.catalog.releases import Release, ReleaseUsage
from rulelog.domain.catalog.rules import RULE_SEQUENCE, AliasClaim, Rule, rule_ref
from rulelog.domain.catalog.shutoffs import EmergencyShutoff
from rulelog.domain.catalog.snapshot import plan_import
from rulelog.domain.sequence import Sequence
from rulelog.domain.workflow.scheduling import PendingTarget, ScheduledChange
from rulelog.domain.workflow.uptake import Uptake
from rulelog.projections.log import last_position, read_log
from rulelog.projections.views import live_view
from rulelog.services.application import RulelogApp

CACHE = Path(__file__).resolve().parent / ".cache"
#: Part of the cache key: bump it whenever the generated mix changes.
GENERATOR_VERSION = 1
#: Events per save while generating (whole facts only, so a little more).
CHUNK = 3000
#: The imported catalogue, and the steady state the churn keeps around it.
INITIAL_RULES = 1000
LIVE_RELEASES = 2000
#: Releases still receiving builds (blob replacements), per product.
RECENT_PER_PRODUCT = 12
#: At most this many scheduled changes pending at once.
MAX_PENDING = 150
ADMIN = "admin"
RELMAN = ("rm-alice", "rm-bob")
BOT = "releng-bot"
AGENT = "balrog-agent"
SHUTOFF_CHANNELS = (("Firefox", "nightly"), ("Firefox", "aurora"), ("Thunderbird", "beta"))
UPTAKE_CHANNELS = (("Firefox", "release"), ("Firefox", "beta"), ("Firefox", "esr"))
#: Relative frequency of each kind of command in the churn after the import.
MIX: dict[str, int] = {
    "new_release": 9,
    "replace_blob": 26,
    "lock_release": 3,
    "update_rule": 14,
    "remap_rule": 8,
    "schedule_rule": 10,
    "schedule_release": 1,
    "sign_off": 9,
    "modify": 2,
    "enact": 9,
    "cancel": 2,
    "new_rule": 1,
    "delete_rule": 1,
    "uptake": 4,
    "shutoff": 1,
}
REQUIRES_RELMAN = [{"role": "relman", "signoffs_required": 1}]


# ----------------------------------------------------------------- generating


def variant(template: dict[str, Any], name: str, build: int) -> dict[str, Any]:
    """The template's blob under ``name``, as build number ``build``.

    Nested structures are shared with the template (nothing mutates them), so
    holding thousands of releases costs little memory; the platforms' buildIDs
    differ from build to build, as a new nightly's do.
    """
    blob = {**template, "name": name}
    platforms = template.get("platforms")
    if isinstance(platforms, dict):
        stamp = f"2024{build:010d}"
        blob["platforms"] = {
            key: (
                {**entry, "buildID": stamp}
                if isinstance(entry, dict) and "buildID" in entry
                else entry
            )
            for key, entry in platforms.items()
        }
    return blob


class LogBuilder:
    """Writes a realistic log of ``size`` events through one application.

    The catalogue lives in memory as real aggregates; each simulated command
    changes the aggregates a command would touch, and their pending events
    are collected in order and saved a chunk at a time.
    """

    def __init__(self, app: RulelogApp, seed: int) -> None:
        self.app = app
        self.rng = random.Random(seed)
        self.templates: list[dict[str, Any]] = json.loads(FIXTURE.read_text())["releases"]
        self.buffer: list[Any] = []
        self.recorded = 0
        self.build = 0
        self.clock = datetime(2031, 1, 1, tzinfo=UTC)
        self.rules: dict[int, Rule] = {}
        self.releases: dict[str, Release] = {}
        self.template_of: dict[str, dict[str, Any]] = {}
        self.usage: dict[str, ReleaseUsage] = {}
        self.aliases: dict[str, AliasClaim] = {}
        self.sequences: dict[str, Sequence] = {}
        self.locks: dict[tuple[str, str], PendingTarget] = {}
        self.pending: dict[tuple[str, int], ScheduledChange] = {}
        #: (kind, target) of every pending change: a direct edit of those would be merged
        self.locked: set[tuple[str, str]] = set()
        self.oldest: deque[str] = deque()
        self.recent: dict[str, deque[str]] = {}
        self.uptakes: dict[tuple[str, str], Uptake] = {}
        self.shutoffs: dict[tuple[str, str], EmergencyShutoff] = {}

    @property
    def count(self) -> int:
        return self.recorded + len(self.buffer)

    def fact(self, *aggregates: Aggregate) -> None:
        """One command's worth of changes, in the order the command saves them."""
        for aggregate in aggregates:
            self.buffer.extend(aggregate.collect_events())
        if len(self.buffer) >= CHUNK:
            self.flush()

    def flush(self) -> None:
        if self.buffer:
            self.app.save(*self.buffer)
            self.recorded += len(self.buffer)
            self.buffer = []

    # ------------------------------------------------------------- set-up

    def setup(self) -> None:
        """Users, roles and signoff policies through the real commands, then an import."""
        app = self.app
        app.add_user(ADMIN, admin=True, recorded_by=ADMIN)
        for user in RELMAN:
            app.grant_permission(user, "rule", {"products": ["Firefox"]}, ADMIN)
            app.grant_role(user, "relman", ADMIN)
        app.grant_permission(BOT, "release", None, ADMIN)
        app.grant_permission(AGENT, "scheduled_change", {"actions": ["enact"]}, ADMIN)
        for channel in ("release", "esr"):
            app.add_required_signoff(
                "product",
                {
                    "product": "Firefox",
                    "channel": channel,
                    "role": "relman",
                    "signoffs_required": 1,
                },
                ADMIN,
            )
        snap = snapshot(INITIAL_RULES, LIVE_RELEASES, seed=self.rng.randrange(1 << 30))
        plan = plan_import(snap, app.find, ADMIN, assume_new=True)
        for aggregate in plan.aggregates:
            if isinstance(aggregate, Rule):
                self.rules[aggregate.rule_id] = aggregate
            elif isinstance(aggregate, Release):
                self._track_release(aggregate, self._template_named(aggregate.name))
            elif isinstance(aggregate, ReleaseUsage):
                self.usage[aggregate.name] = aggregate
            elif isinstance(aggregate, AliasClaim):
                self.aliases[aggregate.alias] = aggregate
            elif isinstance(aggregate, Sequence):
                self.sequences[aggregate.name] = aggregate
        self.fact(*plan.aggregates)
        self.flush()
        self.recorded = last_position(app)
        for name in list(self.releases):
            self.usage.setdefault(name, ReleaseUsage(name=name))

    def _template_named(self, name: str) -> dict[str, Any]:
        base = name.rsplit("-gen", 1)[0]
        return next(t for t in self.templates if t["name"] == base)

    def _track_release(self, release: Release, template: dict[str, Any]) -> None:
        self.releases[release.name] = release
        self.template_of[release.name] = template
        self.oldest.append(release.name)
        recent = self.recent.setdefault(release.product, deque(maxlen=RECENT_PER_PRODUCT))
        recent.append(release.name)

    def sequence(self, name: str) -> Sequence:
        if name not in self.sequences:
            self.sequences[name] = Sequence(name=name)
        return self.sequences[name]

    # ------------------------------------------------------------- churn

    def run(self, size: int, progress: Callable[[int], None] | None = None) -> None:
        kinds = list(MIX)
        weights = [MIX[k] for k in kinds]
        step = 0
        while self.count < size:
            kind = self.rng.choices(kinds, weights)[0]
            getattr(self, kind)()
            step += 1
            if progress and step % 5000 == 0:
                progress(self.count)
        self.flush()

    def _pick_rule(self) -> Rule | None:
        """A live rule with no pending change (direct edits of those would be merged)."""
        for _ in range(20):
            rule = self.rules[self.rng.choice(list(self.rules))]
            if ("rules", str(rule.rule_id)) not in self.locked:
                return rule
        return None

    def _recent_release(self, product: str | None = None) -> Release | None:
        # Products as often as the fixture has releases of them: mostly Firefox.
        product = product or self.rng.choice(self.templates)["product"]
        names = self.recent.get(product, deque())
        live = [
            n
            for n in names
            if n in self.releases
            and not self.releases[n].read_only
            and ("releases", n) not in self.locked
        ]
        return self.releases[self.rng.choice(live)] if live else None

    def _remap(self, rule: Rule, old: set[str]) -> list[Aggregate]:
        new = rule.mapped_releases()
        touched: list[Aggregate] = []
        for name in sorted(new - old):
            self.usage[name].attach(rule_ref(rule.rule_id))
            touched.append(self.usage[name])
        for name in sorted(old - new):
            if name in self.usage:
                self.usage[name].detach(rule_ref(rule.rule_id))
                touched.append(self.usage[name])
        return touched

    def new_release(self) -> None:
        template = self.rng.choice(self.templates)
        self.build += 1
        name = f"{template['name']}-b{self.build}"
        release = Release(
            name=name,
            product=template["product"],
            blob=variant(template["data"], name, self.build),
            read_only=False,
            changed_by=BOT,
        )
        usage = ReleaseUsage(name=name)
        self.usage[name] = usage
        self._track_release(release, template)
        self.fact(release, usage)
        if len(self.releases) > LIVE_RELEASES:
            self._clean_up_oldest()

    def _clean_up_oldest(self) -> None:
        """Delete the oldest release nothing maps to (unlocking it first if read-only)."""
        for _ in range(len(self.oldest)):
            name = self.oldest.popleft()
            if name not in self.releases:
                continue
            usage, release = self.usage[name], self.releases[name]
            if usage.refs or ("releases", name) in self.locked:
                self.oldest.append(name)
                continue
            if release.read_only:
                release.set_read_only(False, ADMIN)
                self.fact(release)
            usage.retire()
            release.delete(BOT)
            self.fact(release, usage)
            del self.releases[name], self.usage[name], self.template_of[name]
            return

    def replace_blob(self) -> None:
        release = self._recent_release()
        if release is None:
            return self.new_release()
        self.build += 1
        template = self.template_of[release.name]
        blob = variant(template["data"], release.name, self.build)
        release.replace_blob(release.product, blob, BOT)
        self.fact(release)
        return None

    def lock_release(self) -> None:
        name = self.rng.choice(list(self.releases))
        release = self.releases[name]
        if not release.read_only and ("releases", name) not in self.locked:
            release.set_read_only(True, self.rng.choice(RELMAN))
            self.fact(release)

    def update_rule(self) -> None:
        rule = self._pick_rule()
        if rule is None:
            return
        field = self.rng.choice(("priority", "backgroundRate", "comment"))
        value: Any = {
            "priority": self.rng.randrange(1000),
            "backgroundRate": self.rng.choice((0, 10, 25, 50, 100)),
            "comment": f"edit {self.count}",
        }[field]
        if rule.update({field: value}, self.rng.choice(RELMAN)):
            self.fact(rule)

    def remap_rule(self) -> None:
        rule = self._pick_rule()
        release = self._recent_release(rule.fields.get("product")) if rule else None
        if rule is None or release is None:
            return
        old = rule.mapped_releases()
        if rule.update({"mapping": release.name}, self.rng.choice(RELMAN)):
            self.fact(rule, *self._remap(rule, old))

    def new_rule(self) -> None:
        sequence = self.sequence(RULE_SEQUENCE)
        release = self._recent_release("Firefox")
        if release is None:
            return
        rule_id = sequence.allocate()
        alias = f"rule-{rule_id}" if rule_id % 10 == 0 else None
        rule = Rule.create(
            rule_id,
            {
                "alias": alias,
                "product": "Firefox",
                "channel": self.rng.choice(("release", "beta", "nightly", "esr")),
                "priority": self.rng.randrange(1000),
                "mapping": release.name,
                "backgroundRate": 100,
                "update_type": "minor",
                "comment": f"rule {rule_id}",
            },
            self.rng.choice(RELMAN),
        )
        self.rules[rule_id] = rule
        claims: list[Aggregate] = []
        if alias:
            self.aliases[alias] = AliasClaim(alias=alias, rule_id=rule_id)
            claims.append(self.aliases[alias])
        self.fact(rule, sequence, *claims, *self._remap(rule, set()))

    def delete_rule(self) -> None:
        rule = self._pick_rule()
        if rule is None or len(self.rules) < INITIAL_RULES // 2:
            return
        old = rule.mapped_releases()
        claims: list[Aggregate] = []
        if rule.alias and rule.alias in self.aliases:
            self.aliases[rule.alias].release()
            claims.append(self.aliases.pop(rule.alias))
        usages = []
        for name in sorted(old):
            if name in self.usage:
                self.usage[name].detach(rule_ref(rule.rule_id))
                usages.append(self.usage[name])
        rule.delete(self.rng.choice(RELMAN))
        del self.rules[rule.rule_id]
        self.fact(rule, *claims, *usages)

    # -------------------------------------------------- scheduled changes

    def _schedule(
        self, kind: str, key: str, row: dict[str, Any], base: int, required: list[dict[str, Any]]
    ) -> None:
        sequence = self.sequence(f"sc:{kind}")
        sc_id = sequence.allocate()
        lock = self.locks.get((kind, key))
        if lock is None:
            lock = self.locks[(kind, key)] = PendingTarget(kind=kind, target=key, sc_id=sc_id)
        else:
            lock.claim(sc_id)
        self.clock += timedelta(minutes=7)
        scheduler = self.rng.choice(RELMAN)
        sc = ScheduledChange(
            kind=kind,
            sc_id=sc_id,
            change_type="update",
            target=key,
            row=row,
            base_data_version=base,
            condition={"when": self.clock.isoformat()},
            scheduled_by=scheduler,
            required=required,
        )
        if required:
            sc.sign_off(scheduler, "relman")
        self.pending[(kind, sc_id)] = sc
        self.locked.add((kind, key))
        self.fact(sc, lock, sequence)

    def schedule_rule(self) -> None:
        if len(self.pending) >= MAX_PENDING:
            return self.enact()
        rule = self._pick_rule()
        if rule is None:
            return None
        row = {"rule_id": rule.rule_id, **rule.fields}
        if self.rng.random() < 0.5:
            row["backgroundRate"] = self.rng.choice((0, 10, 25, 50, 100))
        else:
            release = self._recent_release(rule.fields.get("product"))
            row["mapping"] = release.name if release else row["mapping"]
        required = REQUIRES_RELMAN if row.get("channel") in ("release", "esr") else []
        self._schedule("rules", str(rule.rule_id), row, rule.data_version, required)
        return None

    def schedule_release(self) -> None:
        if len(self.pending) >= MAX_PENDING:
            return self.enact()
        release = self._recent_release()
        if release is None:
            return None
        self.build += 1
        data = variant(self.template_of[release.name]["data"], release.name, self.build)
        row = {"name": release.name, "product": release.product, "read_only": False, "data": data}
        self._schedule("releases", release.name, row, release.data_version, REQUIRES_RELMAN)
        return None

    def _pick_pending(self) -> ScheduledChange | None:
        if not self.pending:
            return None
        return self.pending[self.rng.choice(list(self.pending))]

    def sign_off(self) -> None:
        sc = self._pick_pending()
        if sc is None:
            return
        signer = next((u for u in RELMAN if u not in sc.signoffs), None)
        if signer is not None:
            sc.sign_off(signer, "relman")
            self.fact(sc)

    def modify(self) -> None:
        sc = self._pick_pending()
        if sc is None or sc.kind != "rules":
            return
        self.clock += timedelta(minutes=3)
        modifier = self.rng.choice(RELMAN)
        sc.modify(
            row={**(sc.row or {}), "priority": self.rng.randrange(1000)},
            base_data_version=sc.base_data_version,
            condition={"when": self.clock.isoformat()},
            changed_by=modifier,
            required=sc.required,
        )
        if sc.required and modifier not in sc.signoffs:
            sc.sign_off(modifier, "relman")
        self.fact(sc)

    def enact(self) -> None:
        sc = self._oldest_pending()
        if sc is None:
            return
        touched: list[Aggregate] = []
        if sc.kind == "rules":
            rule = self.rules.get(int(sc.target))
            if rule is not None:
                old = rule.mapped_releases()
                rule.update(sc.row or {}, sc.scheduled_by)
                touched = [rule, *self._remap(rule, old)]
        else:
            release = self.releases.get(sc.target)
            if release is not None and not release.read_only:
                row = sc.row or {}
                release.replace_blob(row["product"], row["data"], sc.scheduled_by)
                touched = [release]
        sc.enact(enacted_by=AGENT, required=sc.required)
        self._end(sc, touched)

    def cancel(self) -> None:
        sc = self._pick_pending()
        if sc is not None:
            sc.cancel(sc.scheduled_by)
            self._end(sc, [])

    def _oldest_pending(self) -> ScheduledChange | None:
        return next(iter(self.pending.values()), None)

    def _end(self, sc: ScheduledChange, touched: list[Aggregate]) -> None:
        lock = self.locks[(sc.kind, sc.target)]
        lock.free()
        del self.pending[(sc.kind, sc.sc_id)]
        self.locked.discard((sc.kind, sc.target))
        self.fact(sc, *touched, lock)

    # ----------------------------------------------------------- the rest

    def uptake(self) -> None:
        key = self.rng.choice(UPTAKE_CHANNELS)
        if key not in self.uptakes:
            self.uptakes[key] = Uptake(product=key[0], channel=key[1])
        self.uptakes[key].report(round(self.rng.uniform(0, 100), 1), AGENT)
        self.fact(self.uptakes[key])

    def shutoff(self) -> None:
        product, channel = self.rng.choice(SHUTOFF_CHANNELS)
        shutoff = self.shutoffs.get((product, channel))
        comment = f"incident {self.count}"
        if shutoff is None:
            shutoff = EmergencyShutoff(
                product=product, channel=channel, comment=comment, changed_by=ADMIN
            )
            self.shutoffs[(product, channel)] = shutoff
        elif shutoff.deleted:
            shutoff.recreate(comment=comment, changed_by=ADMIN)
        else:
            shutoff.delete(ADMIN)
        self.fact(shutoff)


def cached_log(size: int, seed: int, regenerate: bool) -> tuple[Path, float | None]:
    """The SQLite file of a generated log of ``size`` events, and how long generating took
    (None when it came from the cache)."""
    CACHE.mkdir(exist_ok=True)
    path = CACHE / f"timeline-{size}-seed{seed}-v{GENERATOR_VERSION}.db"
    if path.exists() and not regenerate:
        return path, None
    partial = path.with_suffix(".partial")
    for stale in (path, partial, *CACHE.glob(partial.name + "-*")):
        stale.unlink(missing_ok=True)
    started = time.perf_counter()
    app = open_app(f"sqlite:///{partial}")
    builder = LogBuilder(app, seed)
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


class Stopwatch:
    def __enter__(self) -> Stopwatch:
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *_: object) -> None:
        self.timing = Timing(time.perf_counter() - self.wall, time.process_time() - self.cpu)


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
) -> Figures:
    app = open_app(f"sqlite:///{path}")
    timeline = open_timeline(app)
    if every:
        timeline.every = every
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
            measure(path, size, args.samples, args.every, args.seed, generated, args.repeat)
        )
        print(f"  measured in {time.perf_counter() - started:.0f}s")
    describe(results)
    for clock in CLOCKS:
        report(results, clock)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
