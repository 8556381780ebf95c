"""Import of a Balrog snapshot (rules, releases, shutoffs, pins) as one fact.

Everything is validated before anything is written, and everything is
written as one fact: a snapshot with one bad item among thousands of good
ones leaves the store exactly as it was, and the error names the item and
the field (``rules[3] (rule_id 4): backgroundRate: ...``).

A snapshot of 100,000 rules and 10,000 releases does not fit in memory as
one list of planned aggregates (their pending events, then their stored
form, took more than 1 GB). So planning is a stream: ``plan_aggregates``
reads each section from a ``SnapshotSource`` (a dict already in memory, or
a file parsed item by item: ``adapters.snapshot_file``), validates each item
as it comes and yields the aggregate that records it, keeping only what the
checks across items need: release names, rule ids, aliases, and which rules
map to which release (the usage indexes, yielded at the end). The caller
encodes and sets aside each aggregate's events as it comes, and writes them
only once the whole stream has been planned (``services.snapshot_import``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Container, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar
from uuid import UUID

from eventsourcing.domain import Aggregate

from rulelog.domain import ids
from rulelog.domain.catalog.pins import PinnableRelease
from rulelog.domain.catalog.releases import Release, ReleaseUsage, check_release_identity
from rulelog.domain.catalog.rules import AliasClaim, Rule, rule_ref
from rulelog.domain.catalog.shutoff_pin_fields import normalize_pin, normalize_shutoff
from rulelog.domain.catalog.shutoffs import EmergencyShutoff
from rulelog.domain.errors import Conflict, Invalid, RulelogError
from rulelog.domain.sequence import Sequence
from rulelog.domain.serving.blobs.validation import validate_blob

A = TypeVar("A", bound=Aggregate)
T = TypeVar("T")
SECTIONS = ("rules", "releases", "emergency_shutoffs", "pinnable_releases")
#: The order sections are planned (and their aggregates written) in: a rule or a pin
#: can map only to a release known by then, whatever the order of the file's keys.
PLAN_ORDER = ("releases", "rules", "emergency_shutoffs", "pinnable_releases")


class Finder(Protocol):
    def __call__(self, aggregate_id: UUID, cls: type[A]) -> A | None: ...


class SnapshotSource(ABC):
    """A snapshot's sections, each readable item by item, as often as needed."""

    @abstractmethod
    def sizes(self) -> Mapping[str, int]:
        """Check the snapshot's shape (an object of known sections, each a list or
        null) and say how many items each section holds (absent: 0)."""

    @abstractmethod
    def items(self, section: str) -> Iterable[Any]:
        """The section's items in order (each call starts from the first)."""


class MappingSnapshot(SnapshotSource):
    """A snapshot already in memory (a parsed JSON object)."""

    def __init__(self, snapshot: object) -> None:
        if not isinstance(snapshot, Mapping):
            raise Invalid(
                "snapshot: must be a JSON object with rules and releases", field="snapshot"
            )
        unknown = set(snapshot) - set(SECTIONS)
        if unknown:
            raise Invalid(f"snapshot: unknown section(s) {', '.join(sorted(unknown))}")
        self._sections: dict[str, list[Any]] = {}
        for section in SECTIONS:
            items = snapshot.get(section) or []
            if not isinstance(items, list):
                raise Invalid(f"{section}: must be a list", field=section)
            self._sections[section] = items

    def sizes(self) -> Mapping[str, int]:
        return {section: len(items) for section, items in self._sections.items()}

    def items(self, section: str) -> Iterable[Any]:
        return self._sections[section]


def source_of(snapshot: object) -> SnapshotSource:
    """``snapshot`` itself if it is a source, else the in-memory source over it."""
    return snapshot if isinstance(snapshot, SnapshotSource) else MappingSnapshot(snapshot)


@dataclass(frozen=True)
class ImportSummary:
    """What an import recorded."""

    rules: int
    releases: int
    emergency_shutoffs: int
    pinnable_releases: int
    events: int


@dataclass
class ImportCounts:
    """How many items of each section a plan recorded (filled in as it streams)."""

    rules: int = 0
    releases: int = 0
    emergency_shutoffs: int = 0
    pinnable_releases: int = 0


@dataclass(frozen=True)
class ImportPlan:
    """The aggregates to save, and what they amount to (a small snapshot, all at once)."""

    aggregates: list[Aggregate]
    rules: int
    releases: int
    emergency_shutoffs: int
    pinnable_releases: int

    def pending_event_count(self) -> int:
        """How many events saving the plan will append (before it is saved)."""
        return sum(len(a.pending_events) for a in self.aggregates)


def _item_error(section: str, index: int, label: str, error: RulelogError) -> RulelogError:
    """Re-raise ``error`` with the item it concerns in front of its message."""
    message = f"{section}[{index}] ({label}): {error.message}"
    field = getattr(error, "field", None)
    if isinstance(error, Conflict):
        return Conflict(message, field=field, item=f"{section}[{index}]")
    return Invalid(message, field=field, item=f"{section}[{index}]")


def _each_planned(
    section: str,
    items: Iterable[Any],
    label: Callable[[Mapping[str, Any]], str],
    plan: Callable[[Any], T],
    tick: Callable[[int], None],
) -> Iterator[T]:
    """Plan each item of a section in turn; a refusal names the item (index and label)."""
    for index, item in enumerate(items):
        shown = label(item) if isinstance(item, Mapping) else "not an object"
        try:
            planned = plan(item)
        except RulelogError as error:
            raise _item_error(section, index, shown, error) from None
        yield planned
        tick(1)


def _never_stored(aggregate_id: UUID, cls: type[A]) -> A | None:
    return None


def plan_import(
    snapshot: object,
    find: Finder,
    changed_by: str,
    progress: Callable[[int], None] | None = None,
    *,
    assume_new: bool = False,
) -> ImportPlan:
    """Validate a snapshot and build, all at once, the aggregates that record it.

    For a snapshot small enough to hold whole (tests, a generated store's first
    save); ``plan_aggregates`` is the same plan as a stream.
    """
    counts = ImportCounts()
    planned = plan_aggregates(
        source_of(snapshot), find, changed_by, counts, progress, assume_new=assume_new
    )
    aggregates = list(planned)
    return ImportPlan(aggregates=aggregates, **counts.__dict__)


def plan_aggregates(
    source: SnapshotSource,
    find: Finder,
    changed_by: str,
    counts: ImportCounts,
    progress: Callable[[int], None] | None = None,
    *,
    assume_new: bool = False,
) -> Iterator[Aggregate]:
    """Validate a snapshot item by item and yield the aggregates that record it.

    The order is that of one save of them all: releases, rules, alias claims,
    the rule id sequence, shutoffs, pins, then the release usage indexes. An
    aggregate is yielded once its item is valid and never again, so the caller
    may drop it after taking its pending events; a refusal (an exception out
    of the iteration) names the item and field, and the caller must then write
    nothing it was given.

    With ``assume_new`` the plan does not look up the rows, aliases and
    usage indexes the snapshot itself creates: a bulk import into a store
    that does not have them yet is then free of reads. If any of them
    does exist, writing fails on the store's unique constraint and the
    caller plans again without ``assume_new``, which finds the clash and
    names it (or continues a deleted row's stream).
    """
    created: Finder = _never_stored if assume_new else find
    source.sizes()  # the snapshot's shape is refused before any of its items
    tick = progress or (lambda _n: None)
    releases: set[str] = set()
    #: Per release name, the rules that map to it, in order (its usage index's events).
    usage_refs: dict[str, list[int]] = {}
    stored_releases: dict[str, bool] = {}

    def release_exists(name: str) -> bool:
        if name in releases:
            return True
        if name not in stored_releases:
            stored = find(ids.release_id(name), Release)
            stored_releases[name] = stored is not None and not stored.deleted
        return stored_releases[name]

    for release in _each_planned(
        "releases",
        source.items("releases"),
        lambda item: f"name {item.get('name')!r}",
        lambda item: _plan_release(item, created, changed_by, releases),
        tick,
    ):
        releases.add(release.name)
        usage_refs.setdefault(release.name, [])
        counts.releases += 1
        yield release

    rule_ids: set[int] = set()
    aliases: dict[str, int] = {}
    for rule in _each_planned(
        "rules",
        source.items("rules"),
        lambda item: f"rule_id {item.get('rule_id')}",
        lambda item: _plan_rule(item, created, changed_by, rule_ids, aliases, release_exists),
        tick,
    ):
        rule_ids.add(rule.rule_id)
        for name in sorted(rule.mapped_releases()):
            usage_refs.setdefault(name, []).append(rule.rule_id)
        counts.rules += 1
        yield rule
    yield from _alias_claims(aliases, created)
    if rule_ids:
        sequence = find(ids.sequence_id("rules"), Sequence) or Sequence(name="rules")
        sequence.reserve_up_to(max(rule_ids))
        yield sequence

    shutoffs: set[UUID] = set()
    for shutoff in _each_planned(
        "emergency_shutoffs",
        source.items("emergency_shutoffs"),
        lambda item: f"{item.get('product')}/{item.get('channel')}",
        lambda item: _plan_shutoff(item, created, changed_by, shutoffs),
        tick,
    ):
        shutoffs.add(shutoff.id)
        counts.emergency_shutoffs += 1
        yield shutoff

    pins: set[UUID] = set()
    for pin in _each_planned(
        "pinnable_releases",
        source.items("pinnable_releases"),
        lambda item: f"{item.get('product')}/{item.get('channel')}/{item.get('version')}",
        lambda item: _plan_pin(item, created, changed_by, pins, release_exists),
        tick,
    ):
        pins.add(pin.id)
        counts.pinnable_releases += 1
        yield pin

    for name, refs in usage_refs.items():
        lookup = created if name in releases else find
        usage = lookup(ids.release_usage_id(name), ReleaseUsage) or ReleaseUsage(name=name)
        for rule_id in refs:
            usage.attach(rule_ref(rule_id))
        if usage.pending_events:
            yield usage


def _alias_claims(aliases: Mapping[str, int], created: Finder) -> Iterator[AliasClaim]:
    for alias, rule_id in aliases.items():
        claim = created(ids.alias_id(alias), AliasClaim)
        if claim is None:
            yield AliasClaim(alias=alias, rule_id=rule_id)
        else:
            claim.claim(rule_id=rule_id)
            yield claim


def _require_object(item: object) -> Mapping[str, Any]:
    if not isinstance(item, Mapping):
        raise Invalid("must be a JSON object")
    return item


def _plan_release(item: object, find: Finder, changed_by: str, planned: Container[str]) -> Release:
    row = _require_object(item)
    unknown = set(row) - {"name", "product", "data", "read_only", "data_version"}
    if unknown:
        raise Invalid(f"unknown field(s) {', '.join(sorted(unknown))}", field=min(unknown))
    name, product, blob = row.get("name"), row.get("product"), row.get("data")
    check_release_identity(name, product)
    assert isinstance(name, str) and isinstance(product, str)
    read_only = row.get("read_only", False)
    if not isinstance(read_only, bool):
        raise Invalid("read_only: must be true or false", field="read_only")
    validate_blob(blob, name=name)
    assert isinstance(blob, dict)
    stored = find(ids.release_id(name), Release)
    if name in planned or (stored is not None and not stored.deleted):
        raise Conflict(f"name: release {name} already exists", field="name")
    if stored is not None:
        stored.recreate(product=product, blob=blob, read_only=read_only, changed_by=changed_by)
        return stored
    return Release(
        name=name, product=product, blob=blob, read_only=read_only, changed_by=changed_by
    )


def _plan_rule(
    item: object,
    find: Finder,
    changed_by: str,
    planned: Container[int],
    aliases: dict[str, int],
    release_exists: Callable[[str], bool],
) -> Rule:
    row = _require_object(item)
    rule_id = row.get("rule_id")
    if rule_id is None:
        raise Invalid(
            "rule_id: an imported rule keeps its id, so it must have one", field="rule_id"
        )
    rule = Rule.create(rule_id, row, changed_by)
    if rule_id in planned or find(ids.rule_id(rule_id), Rule) is not None:
        raise Conflict(f"rule_id: rule {rule_id} already exists", field="rule_id")
    alias = rule.alias
    if alias is not None:
        claim = find(ids.alias_id(alias), AliasClaim)
        holder = aliases.get(alias, claim.rule_id if claim is not None else None)
        if holder is not None:
            raise Conflict(f"alias: {alias} is already used by rule {holder}", field="alias")
        aliases[alias] = rule_id
    for column in ("mapping", "fallbackMapping"):
        name = rule.fields.get(column)
        if name and not release_exists(name):
            raise Invalid(f"{column}: no release named {name}", field=column)
    return rule


def _plan_shutoff(
    item: object, find: Finder, changed_by: str, planned: Container[UUID]
) -> EmergencyShutoff:
    row = normalize_shutoff({k: v for k, v in _require_object(item).items() if k != "data_version"})
    key = ids.shutoff_id(row["product"], row["channel"])
    stored = find(key, EmergencyShutoff)
    if key in planned or (stored is not None and not stored.deleted):
        raise Conflict("an emergency shutoff for this product and channel already exists")
    if stored is not None:
        stored.recreate(comment=row.get("comment"), changed_by=changed_by)
        return stored
    return EmergencyShutoff(**row, changed_by=changed_by)


def _plan_pin(
    item: object,
    find: Finder,
    changed_by: str,
    planned: Container[UUID],
    release_exists: Callable[[str], bool],
) -> PinnableRelease:
    row = normalize_pin({k: v for k, v in _require_object(item).items() if k != "data_version"})
    if not release_exists(row["mapping"]):
        raise Invalid(f"mapping: no release named {row['mapping']}", field="mapping")
    key = ids.pin_id(row["product"], row["channel"], row["version"])
    stored = find(key, PinnableRelease)
    if key in planned or (stored is not None and not stored.deleted):
        raise Conflict("a pin for this product, channel and version already exists")
    if stored is not None:
        stored.recreate(mapping=row["mapping"], changed_by=changed_by)
        return stored
    return PinnableRelease(**row, changed_by=changed_by)
