"""Generated logs for the timeline benchmark: a Balrog deployment's history, in bulk.

The log is written through one application, but not one command at a time (a
million events would take hours): the catalogue lives in memory as real
aggregates (``Memory``), and each simulated command plans its change with the
same per-kind adapters the commands use (``services.targets``: validation by
the aggregates, alias claims, release usage, sequences), then its events are
collected in order and saved a few thousand at a time. Scheduled changes take
their required signoffs from the real signoff policies and keep the
pending-target locks as ``WorkflowCommands`` does; enactment plans the change
through the same adapter as a direct edit.

The mix: an import of 1,000 rules and 2,000 releases (``domain.catalog.snapshot``),
then releases created, rebuilt (blobs copied from the fixture, buildIDs changed),
locked and cleaned up; rules edited, remapped, created and deleted; scheduled
changes made, signed off, modified, enacted and cancelled; uptake reports and
emergency shutoffs.
"""

from __future__ import annotations

import json
import random
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from eventsourcing.domain import Aggregate

from bench.generate import FIXTURE, snapshot, variant
from bench.log_memory import Bag, Memory
from rulelog.adapters.batch_writes import AtomicAppender
from rulelog.domain import ids
from rulelog.domain.catalog.releases import Release, ReleaseUsage
from rulelog.domain.catalog.rules import Rule
from rulelog.domain.catalog.snapshot import plan_import
from rulelog.domain.errors import RulelogError
from rulelog.domain.sequence import Sequence
from rulelog.domain.workflow.scheduling import PendingTarget, Proposal, ScheduledChange
from rulelog.domain.workflow.signoff_rules import auto_signoff_role
from rulelog.domain.workflow.uptake import Uptake
from rulelog.projections.log import last_position
from rulelog.services.app_base import requirements_as_data
from rulelog.services.application import RulelogApp
from rulelog.services.targets import ABSENT, Current, target_for

#: Part of the cache key: bump it whenever the generated mix changes.
GENERATOR_VERSION = 3
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


class LogBuilder:
    """Writes a realistic log of ``size`` events through one application."""

    def __init__(
        self,
        app: RulelogApp,
        seed: int,
        *,
        rules: int = INITIAL_RULES,
        releases: int = LIVE_RELEASES,
        cleanup_scan: int | None = None,
    ) -> None:
        """``rules`` and ``releases``: the imported catalogue's size (the churn keeps about
        ``releases`` live). ``cleanup_scan``: how many of the oldest releases a clean-up
        looks at before giving up (None: all of them; a catalogue whose every release is
        mapped would otherwise be scanned whole by each new release)."""
        self.app = app
        self.initial_rules = rules
        self.live_releases = releases
        self.cleanup_scan = cleanup_scan
        self.memory = Memory()
        self.rng = random.Random(seed)
        self.templates: list[dict[str, Any]] = json.loads(FIXTURE.read_text())["releases"]
        self.buffer: list[Any] = []
        self.recorded = 0
        self.build = 0
        self.clock = datetime(2031, 1, 1, tzinfo=UTC)
        #: what the churn picks from: live rule ids, live releases and their templates
        self.rules: Bag[int] = Bag()
        self.release_names: Bag[str] = Bag()
        self.template_of: dict[str, dict[str, Any]] = {}
        self.pending: dict[tuple[str, int], ScheduledChange] = {}
        self.oldest: deque[str] = deque()
        self.recent: dict[str, deque[str]] = {}

    @property
    def count(self) -> int:
        return self.recorded + len(self.buffer)

    def fact(self, *aggregates: Aggregate) -> None:
        """One command's worth of changes, in the order the command saves them."""
        self.memory.add(*aggregates)
        for aggregate in aggregates:
            self.buffer.extend(aggregate.collect_events())
        if len(self.buffer) >= CHUNK:
            self.flush()

    def flush(self) -> None:
        """Append the buffered events, in order, in one transaction.

        Through ``adapters.batch_writes`` (what a streamed import writes with):
        the rows ``app.save`` would write (the events carry no aggregates, so
        ``save`` would take no snapshots either), without its per-row ORM unit
        of work, which was half of the time of generating a big store.
        """
        if self.buffer:
            rows = [
                (e.originator_id, e.originator_version, e.topic, e.state)
                for e in map(self.app.mapper.to_stored_event, self.buffer)
            ]
            with AtomicAppender(self.app) as out:
                out.append(rows)
            self.recorded += len(self.buffer)
            self.buffer = []

    def change(
        self, kind: str, change_type: str, key: str | None, row: dict[str, Any] | None, by: str
    ) -> list[Aggregate]:
        """Plan a change of row ``key`` as a direct edit would, through the kind's adapter."""
        target = target_for(kind)
        current = target.current(self.memory.as_app(), key) if key is not None else ABSENT
        return target.plan(self.memory.as_app(), change_type, current, row, by)

    def current(self, kind: str, key: str) -> Current:
        return target_for(kind).current(self.memory.as_app(), key)

    def is_locked(self, kind: str, key: str) -> bool:
        """Whether the row has a pending change (a direct edit of it would be merged)."""
        lock = self.memory.find(ids.pending_target_id(kind, key), PendingTarget)
        return lock is not None and lock.sc_id is not None

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
            policy = {"product": "Firefox", "channel": channel}
            app.add_required_signoff(
                "product", {**policy, "role": "relman", "signoffs_required": 1}, ADMIN
            )
        self.memory.add(app.policies())
        snap = snapshot(self.initial_rules, self.live_releases, seed=self.rng.randrange(1 << 30))
        plan = plan_import(snap, app.find, ADMIN, assume_new=True)
        for aggregate in plan.aggregates:
            if isinstance(aggregate, Rule):
                self.rules.add(aggregate.rule_id)
            elif isinstance(aggregate, Release):
                self._track_release(aggregate, self._template_named(aggregate.name))
        self.fact(*plan.aggregates)
        self.flush()
        self.recorded = last_position(app)

    def _template_named(self, name: str) -> dict[str, Any]:
        base = name.rsplit("-gen", 1)[0]
        return next(t for t in self.templates if t["name"] == base)

    def _track_release(self, release: Release, template: dict[str, Any]) -> None:
        self.template_of[release.name] = template
        self.release_names.add(release.name)
        self.oldest.append(release.name)
        recent = self.recent.setdefault(release.product, deque(maxlen=RECENT_PER_PRODUCT))
        recent.append(release.name)

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

    def _pick_rule(self) -> Current | None:
        """A live rule with no pending change."""
        for _ in range(20):
            rule_id = self.rules.pick(self.rng)
            if not self.is_locked("rules", str(rule_id)):
                return self.current("rules", str(rule_id))
        return None

    def _recent_release(self, product: str | None = None) -> Current | None:
        """A writable release still receiving builds, with no pending change."""
        # Products as often as the fixture has releases of them: mostly Firefox.
        product = product or self.rng.choice(self.templates)["product"]
        live = [self.current("releases", n) for n in self.recent.get(product, deque())]
        live = [
            c
            for c in live
            if c.row is not None
            and not c.row["read_only"]
            and not self.is_locked("releases", c.row["name"])
        ]
        return self.rng.choice(live) if live else None

    def new_release(self) -> None:
        template = self.rng.choice(self.templates)
        self.build += 1
        name = f"{template['name']}-b{self.build}"
        row = {
            "name": name,
            "product": template["product"],
            "read_only": False,
            "data": variant(template["data"], name, self.build),
        }
        touched = self.change("releases", "insert", None, row, BOT)
        self._track_release(cast(Release, touched[0]), template)
        self.fact(*touched)
        if len(self.template_of) > self.live_releases:
            self._clean_up_oldest()

    def _clean_up_oldest(self) -> None:
        """Delete the oldest release nothing maps to (unlocking it first if read-only)."""
        for _ in range(min(len(self.oldest), self.cleanup_scan or len(self.oldest))):
            name = self.oldest.popleft()
            current = self.current("releases", name)
            if current.row is None:
                continue
            usage = self.memory.find(ids.release_usage_id(name), ReleaseUsage)
            if (usage is not None and usage.refs) or self.is_locked("releases", name):
                self.oldest.append(name)
                continue
            if current.row["read_only"]:
                self.fact(
                    *self.change(
                        "releases", "update", name, {**current.row, "read_only": False}, ADMIN
                    )
                )
            self.fact(*self.change("releases", "delete", name, None, BOT))
            del self.template_of[name]
            self.release_names.discard(name)
            return

    def _rebuilt(self, release: Current) -> dict[str, Any]:
        """The release's row with the next build's blob."""
        row = cast(dict[str, Any], release.row)
        self.build += 1
        blob = variant(self.template_of[row["name"]]["data"], row["name"], self.build)
        return {**row, "data": blob}

    def replace_blob(self) -> None:
        release = self._recent_release()
        if release is None:
            return self.new_release()
        row = self._rebuilt(release)
        return self.fact(*self.change("releases", "update", row["name"], row, BOT))

    def lock_release(self) -> None:
        name = self.release_names.pick(self.rng)
        current = self.current("releases", name)
        if current.row and not current.row["read_only"] and not self.is_locked("releases", name):
            row = {**current.row, "read_only": True}
            self.fact(*self.change("releases", "update", name, row, self.rng.choice(RELMAN)))

    def update_rule(self) -> None:
        rule = self._pick_rule()
        if rule is None or rule.row is None:
            return
        field = self.rng.choice(("priority", "backgroundRate", "comment"))
        value: Any = {
            "priority": self.rng.randrange(1000),
            "backgroundRate": self.rng.choice((0, 10, 25, 50, 100)),
            "comment": f"edit {self.count}",
        }[field]
        row = {**rule.row, field: value}
        self.fact(
            *self.change("rules", "update", str(row["rule_id"]), row, self.rng.choice(RELMAN))
        )

    def remap_rule(self) -> None:
        rule = self._pick_rule()
        release = self._recent_release(rule.row.get("product")) if rule and rule.row else None
        if rule is None or rule.row is None or release is None or release.row is None:
            return
        row = {**rule.row, "mapping": release.row["name"]}
        self.fact(
            *self.change("rules", "update", str(row["rule_id"]), row, self.rng.choice(RELMAN))
        )

    def new_rule(self) -> None:
        release = self._recent_release("Firefox")
        if release is None or release.row is None:
            return
        row = {
            "alias": f"rule-{self.count}" if self.rng.random() < 0.1 else None,
            "product": "Firefox",
            "channel": self.rng.choice(("release", "beta", "nightly", "esr")),
            "priority": self.rng.randrange(1000),
            "mapping": release.row["name"],
            "backgroundRate": 100,
            "update_type": "minor",
            "comment": f"rule at {self.count}",
        }
        touched = self.change("rules", "insert", None, row, self.rng.choice(RELMAN))
        self.rules.add(cast(Rule, touched[0]).rule_id)
        self.fact(*touched)

    def delete_rule(self) -> None:
        rule = self._pick_rule()
        if rule is None or rule.row is None or len(self.rules) < self.initial_rules // 2:
            return
        rule_id = rule.row["rule_id"]
        self.fact(*self.change("rules", "delete", str(rule_id), None, self.rng.choice(RELMAN)))
        self.rules.discard(rule_id)

    # -------------------------------------------------- scheduled changes

    def _schedule(self, kind: str, key: str, current: Current, row: dict[str, Any]) -> None:
        """``WorkflowCommands.schedule_change``'s upkeep: id, lock, requirements, auto-signoff."""
        memory = self.memory
        name = f"sc:{kind}"
        sequence = memory.find_or_create(ids.sequence_id(name), Sequence, lambda: Sequence(name))
        sc_id = sequence.allocate()
        lock = memory.find(ids.pending_target_id(kind, key), PendingTarget)
        if lock is None:
            lock = PendingTarget(kind=kind, target=key, sc_id=sc_id)
        else:
            lock.claim(sc_id)
        required = target_for(kind).required(memory.as_app(), current, row)
        self.clock += timedelta(minutes=7)
        scheduler = self.rng.choice(RELMAN)
        condition = {"when": self.clock.isoformat()}
        signoffs = requirements_as_data(required)
        proposal = Proposal(row, current.data_version, condition, signoffs)
        sc = ScheduledChange.schedule(kind, sc_id, "update", key, proposal, scheduler)
        role = auto_signoff_role(("relman",), required)
        if role is not None:
            sc.sign_off(scheduler, role)
        self.pending[(kind, sc_id)] = sc
        self.fact(sc, lock, sequence)

    def schedule_rule(self) -> None:
        if len(self.pending) >= MAX_PENDING:
            return self.enact()
        rule = self._pick_rule()
        if rule is None or rule.row is None:
            return None
        row = dict(rule.row)
        if self.rng.random() < 0.5:
            row["backgroundRate"] = self.rng.choice((0, 10, 25, 50, 100))
        else:
            release = self._recent_release(row.get("product"))
            row["mapping"] = release.row["name"] if release and release.row else row["mapping"]
        return self._schedule("rules", str(row["rule_id"]), rule, row)

    def schedule_release(self) -> None:
        if len(self.pending) >= MAX_PENDING:
            return self.enact()
        release = self._recent_release()
        if release is None:
            return None
        row = self._rebuilt(release)
        return self._schedule("releases", row["name"], release, row)

    def _pick_pending(self) -> ScheduledChange | None:
        if not self.pending:
            return None
        return self.pending[self.rng.choice(list(self.pending))]

    def sign_off(self) -> None:
        sc = self._pick_pending()
        signer = next((u for u in RELMAN if sc and u not in sc.signoffs), None)
        if sc is not None and signer is not None:
            sc.sign_off(signer, "relman")
            self.fact(sc)

    def modify(self) -> None:
        sc = self._pick_pending()
        if sc is None or sc.kind != "rules":
            return
        self.clock += timedelta(minutes=3)
        modifier = self.rng.choice(RELMAN)
        row = {**(sc.row or {}), "priority": self.rng.randrange(1000)}
        condition = {"when": self.clock.isoformat()}
        sc.modify(Proposal(row, sc.base_data_version, condition, sc.required), modifier)
        if sc.required and modifier not in sc.signoffs:
            sc.sign_off(modifier, "relman")
        self.fact(sc)

    def enact(self) -> None:
        """The oldest pending change, planned as the direct edit it schedules."""
        sc = next(iter(self.pending.values()), None)
        if sc is None:
            return
        try:
            touched = self.change(sc.kind, "update", sc.target, sc.row, sc.scheduled_by)
        except RulelogError:  # its mapping was cleaned up meanwhile: the agent would fail it
            return self.cancel(sc)
        sc.enact(enacted_by=AGENT, required=sc.required)
        return self._end(sc, touched)

    def cancel(self, sc: ScheduledChange | None = None) -> None:
        sc = sc or self._pick_pending()
        if sc is not None:
            sc.cancel(sc.scheduled_by)
            self._end(sc, [])

    def _end(self, sc: ScheduledChange, touched: list[Aggregate]) -> None:
        lock = self.memory.find(ids.pending_target_id(sc.kind, sc.target), PendingTarget)
        assert lock is not None
        lock.free()
        del self.pending[(sc.kind, sc.sc_id)]
        self.fact(sc, *touched, lock)

    # ----------------------------------------------------------- the rest

    def uptake(self) -> None:
        product, channel = self.rng.choice(UPTAKE_CHANNELS)
        uptake = self.memory.find_or_create(
            ids.uptake_id(product, channel),
            Uptake,
            lambda: Uptake(product=product, channel=channel),
        )
        uptake.report(round(self.rng.uniform(0, 100), 1), AGENT)
        self.fact(uptake)

    def shutoff(self) -> None:
        """Switch updates off on a channel, or back on if they are off."""
        product, channel = self.rng.choice(SHUTOFF_CHANNELS)
        key = f"{product}/{channel}"
        if self.current("emergency_shutoff", key).exists:
            return self.fact(*self.change("emergency_shutoff", "delete", key, None, ADMIN))
        row = {"product": product, "channel": channel, "comment": f"incident {self.count}"}
        return self.fact(*self.change("emergency_shutoff", "insert", None, row, ADMIN))
