"""Import of a Balrog snapshot (rules, releases, shutoffs, pins) as one fact.

Everything is validated before anything is written, and everything is
written in one atomic save: a snapshot with one bad item among thousands of
good ones leaves the store exactly as it was, and the error names the item
and the field (``rules[3] (rule_id 4): backgroundRate: ...``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar
from uuid import UUID

from eventsourcing.domain import Aggregate

from rulelog.domain import ids
from rulelog.domain.catalog.pins import PinnableRelease
from rulelog.domain.catalog.releases import Release, ReleaseUsage, check_release_identity
from rulelog.domain.catalog.rules import AliasClaim, Rule
from rulelog.domain.catalog.shutoff_pin_fields import normalize_pin, normalize_shutoff
from rulelog.domain.catalog.shutoffs import EmergencyShutoff
from rulelog.domain.errors import Conflict, Invalid, RulelogError
from rulelog.domain.sequence import Sequence
from rulelog.domain.serving.blobs.validation import validate_blob

A = TypeVar("A", bound=Aggregate)
T = TypeVar("T")
SECTIONS = ("rules", "releases", "emergency_shutoffs", "pinnable_releases")


class Finder(Protocol):
    def __call__(self, aggregate_id: UUID, cls: type[A]) -> A | None: ...


@dataclass(frozen=True)
class ImportSummary:
    """What an import recorded."""

    rules: int
    releases: int
    emergency_shutoffs: int
    pinnable_releases: int
    events: int


@dataclass(frozen=True)
class ImportPlan:
    """The aggregates to save, and what they amount to."""

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
    items: list[Any],
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
    """Validate a snapshot and build the aggregates that record it.

    With ``assume_new`` the plan does not look up the rows, aliases and
    usage indexes the snapshot itself creates: a bulk import into a store
    that does not have them yet is then one read-free save. If any of them
    does exist, the save fails on the store's unique constraint and the
    caller plans again without ``assume_new``, which finds the clash and
    names it (or continues a deleted row's stream).
    """
    created: Finder = _never_stored if assume_new else find
    if not isinstance(snapshot, Mapping):
        raise Invalid("snapshot: must be a JSON object with rules and releases", field="snapshot")
    unknown = set(snapshot) - set(SECTIONS)
    if unknown:
        raise Invalid(f"snapshot: unknown section(s) {', '.join(sorted(unknown))}")
    sections: dict[str, list[Any]] = {}
    for section in SECTIONS:
        items = snapshot.get(section) or []
        if not isinstance(items, list):
            raise Invalid(f"{section}: must be a list", field=section)
        sections[section] = items
    tick = progress or (lambda _n: None)

    aggregates: list[Aggregate] = []
    releases: dict[str, Release] = {}
    usages: dict[str, ReleaseUsage] = {}

    def usage(name: str) -> ReleaseUsage:
        if name not in usages:
            lookup = created if name in releases else find
            stored = lookup(ids.release_usage_id(name), ReleaseUsage)
            usages[name] = stored or ReleaseUsage(name=name)
        return usages[name]

    def release_exists(name: str) -> bool:
        if name in releases:
            return True
        stored = find(ids.release_id(name), Release)
        return stored is not None and not stored.deleted

    for releases_item in _each_planned(
        "releases",
        sections["releases"],
        lambda item: f"name {item.get('name')!r}",
        lambda item: _plan_release(item, created, changed_by, releases),
        tick,
    ):
        releases[releases_item.name] = releases_item
        usage(releases_item.name)
    aggregates += releases.values()

    rules: dict[int, Rule] = {}
    aliases: dict[str, int] = {}
    for rule in _each_planned(
        "rules",
        sections["rules"],
        lambda item: f"rule_id {item.get('rule_id')}",
        lambda item: _plan_rule(item, created, changed_by, rules, aliases, release_exists),
        tick,
    ):
        rules[rule.rule_id] = rule
        for name in sorted(rule.mapped_releases()):
            usage(name).attach(f"rule {rule.rule_id}")
    aggregates += rules.values()
    for alias, rule_id in aliases.items():
        claim = created(ids.alias_id(alias), AliasClaim)
        if claim is None:
            aggregates.append(AliasClaim(alias=alias, rule_id=rule_id))
        else:
            claim.claim(rule_id=rule_id)
            aggregates.append(claim)
    if rules:
        sequence = find(ids.sequence_id("rules"), Sequence) or Sequence(name="rules")
        sequence.reserve_up_to(max(rules))
        aggregates.append(sequence)

    shutoffs: dict[UUID, EmergencyShutoff] = {}
    for shutoff in _each_planned(
        "emergency_shutoffs",
        sections["emergency_shutoffs"],
        lambda item: f"{item.get('product')}/{item.get('channel')}",
        lambda item: _plan_shutoff(item, created, changed_by, shutoffs),
        tick,
    ):
        shutoffs[shutoff.id] = shutoff
    aggregates += shutoffs.values()

    pins: dict[UUID, PinnableRelease] = {}
    for pin in _each_planned(
        "pinnable_releases",
        sections["pinnable_releases"],
        lambda item: f"{item.get('product')}/{item.get('channel')}/{item.get('version')}",
        lambda item: _plan_pin(item, created, changed_by, pins, release_exists),
        tick,
    ):
        pins[pin.id] = pin
    aggregates += pins.values()
    aggregates += [u for u in usages.values() if u.pending_events]

    return ImportPlan(
        aggregates=aggregates,
        rules=len(rules),
        releases=len(releases),
        emergency_shutoffs=len(shutoffs),
        pinnable_releases=len(pins),
    )


def _require_object(item: object) -> Mapping[str, Any]:
    if not isinstance(item, Mapping):
        raise Invalid("must be a JSON object")
    return item


def _plan_release(
    item: object, find: Finder, changed_by: str, planned: Mapping[str, Release]
) -> Release:
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
    planned: Mapping[int, Rule],
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
    item: object, find: Finder, changed_by: str, planned: Mapping[UUID, EmergencyShutoff]
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
    planned: Mapping[UUID, PinnableRelease],
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
