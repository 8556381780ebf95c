"""The plumbing of a Balrog history replay, and the index aggregates it keeps.

``ReplayBase`` holds the aggregates a replay has touched (read from the store
once, or created by the replay), stamps every event with the history row's
time, counts what it produced in a ``ReplayReport`` and hands the events out
in order. It also keeps the index aggregates every command keeps (alias
claims, release usage, id sequences, pending-change locks), so the per-table
handlers in ``replay.py`` only say what each history row means.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.domain import Aggregate

from rulelog.domain import ids
from rulelog.domain.balrog.id_pairs import IdPairs
from rulelog.domain.balrog.rows import (
    SC_KINDS,
    HistoryRow,
    base_of,
    ms_to_datetime,
)
from rulelog.domain.catalog.releases import Release, ReleaseUsage
from rulelog.domain.catalog.rules import MAPPING_COLUMNS, AliasClaim, rule_ref
from rulelog.domain.errors import Invalid
from rulelog.domain.sequence import Sequence
from rulelog.domain.workflow.scheduling import PendingTarget, ScheduledChange

A = TypeVar("A", bound=Aggregate)
Finder = Callable[[UUID, type[A]], A | None]


def _never_stored(aggregate_id: UUID, cls: type[A]) -> A | None:
    return None


class ImportRowError(Invalid):
    """A history row that cannot be imported: names the table, the row and the field."""


@dataclass
class ReplayReport:
    """What a replay did: the summary's numbers."""

    rows: Counter[str] = field(default_factory=Counter)
    events: Counter[str] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)
    gaps: list[str] = field(default_factory=list)
    #: keys-only rows that record "no such row" before an insert (no event)
    insert_marks: int = 0
    first_ms: int | None = None
    last_ms: int | None = None

    def saw(self, row: HistoryRow) -> None:
        self.rows[row.table] += 1
        if row.change_id is not None:
            self.first_ms = row.timestamp if self.first_ms is None else self.first_ms
            self.last_ms = max(self.last_ms or row.timestamp, row.timestamp)


class ReplayBase:
    """Aggregates by id, events in history order, and the index upkeep."""

    def __init__(
        self,
        find: Finder | None = None,
        find_many: Callable[[list[UUID]], dict[UUID, Aggregate]] | None = None,
    ) -> None:
        self._find: Finder = find or _never_stored
        self._find_many = find_many
        #: ids a prefetch found absent from the store (not asked again)
        self._absent: set[UUID] = set()
        self._aggregates: dict[UUID, Aggregate] = {}
        self._events: list[Any] = []
        self.report = ReplayReport()
        #: release name -> digest of its last blob (the blobs themselves are dropped)
        self.release_digests: dict[str, str] = {}
        self._row: HistoryRow | None = None
        #: events produced so far (the next one's ordinal is this plus one)
        self.produced = 0
        #: Balrog table -> (ordinal of the event whose state a history row records, the
        #: row's change_id): what the history routes answer for that event
        self.change_ids: dict[str, IdPairs] = {}

    # ------------------------------------------------------------ plumbing

    def prefetch(self, rows: list[HistoryRow]) -> None:
        """Read the stored aggregates ``rows`` are about in one go (a catch-up's reads)."""
        if self._find_many is None:
            return
        wanted = [i for r in rows for i in row_aggregate_ids(r)]
        wanted = [i for i in dict.fromkeys(wanted) if i not in self._aggregates]
        if wanted:
            found = self._find_many(wanted)
            self._aggregates.update(found)
            self._absent.update(i for i in wanted if i not in found)

    def get(self, aggregate_id: UUID, cls: type[A]) -> A | None:
        found = self._aggregates.get(aggregate_id)
        if found is None and aggregate_id not in self._absent:
            found = self._find(aggregate_id, cls)
            if found is not None:
                self._aggregates[aggregate_id] = found
        return found  # type: ignore[return-value]

    def aggregates(self) -> list[Aggregate]:
        return list(self._aggregates.values())

    def _kw(self, kw: dict[str, Any]) -> dict[str, Any]:
        assert self._row is not None
        return {"timestamp": self._row.moment, **kw}

    def _create(self, cls: type[A], event_cls: type, **kw: Any) -> A:
        agg = cls._create(event_cls, **self._kw(kw))
        self._absent.discard(agg.id)
        self._take(agg, event_cls)
        self._aggregates[agg.id] = agg
        return agg

    def _emit(self, agg: Aggregate, event_cls: type, **kw: Any) -> None:
        agg.trigger_event(event_cls, **self._kw(kw))
        self._take(agg, event_cls)

    def _take(self, agg: Aggregate, event_cls: type) -> None:
        collected = agg.collect_events()
        self._events.extend(collected)
        self.produced += len(collected)
        self.report.events[event_cls.TOPIC] += 1

    def note_change_id(self, row: HistoryRow, produced_before: int) -> None:
        """Keep ``row``'s change_id for the last event it produced on the row's own
        aggregate: the one that leaves it at the row's data_version (the events that
        fill a data_version gap come after the change itself; index upkeep is on
        other aggregates)."""
        made = self.produced - produced_before
        if row.change_id is None or not made:
            return
        about = set(row_aggregate_ids(row))
        for back, event in enumerate(reversed(self._events[len(self._events) - made :])):
            if event.originator_id in about:
                ordinal = self.produced - back
                self.change_ids.setdefault(row.table, IdPairs()).append(ordinal, row.change_id)
                return

    def take_events(self) -> list[Any]:
        """The events produced since the last call, in history order."""
        events, self._events = self._events, []
        for release_id in {e.originator_id for e in events if hasattr(e, "blob")}:
            release = self._aggregates.get(release_id)
            if isinstance(release, Release):
                release.blob = {}  # kept by digest only: blobs can be large
        return events

    def _fail(self, message: str, field: str | None = None) -> ImportRowError:
        assert self._row is not None
        where = f"{self._row.label}: " + (f"{field}: " if field else "")
        return ImportRowError(where + message, field=field, item=self._row.label)

    def _versions(self, current: int, values: Mapping[str, Any]) -> int:
        """How many no-change events to add before this row (its data_version gap)."""
        given = values.get("data_version")
        if not isinstance(given, int):
            raise self._fail(f"missing or not an integer: {given!r}", "data_version")
        expected = current + 1
        if given < expected:
            raise self._fail(
                f"{given} does not follow {current} (the row's data_version so far)",
                "data_version",
            )
        if given > expected:
            label = self._row.label if self._row else ""
            self.report.gaps.append(f"{label}: data_version {current} -> {given} (history missing)")
        return given - expected

    def _marker(self, kind: str) -> None:
        """Balrog's keys-only row just before an insert: it records that nothing was there."""
        self.report.insert_marks += 1

    # the indexes -------------------------------------------------------

    def _index_rule(self, rule_id: int, old: Mapping[str, Any], new: Mapping[str, Any]) -> None:
        """Keep the alias claims and the release usage index in step with a rule's change."""
        old_alias, new_alias = old.get("alias"), new.get("alias")
        if old_alias != new_alias:
            if old_alias:
                claim = self.get(ids.alias_id(old_alias), AliasClaim)
                if claim is not None and claim.rule_id == rule_id:
                    self._emit(claim, AliasClaim.Released)
            if new_alias:
                claim = self.get(ids.alias_id(new_alias), AliasClaim)
                if claim is None:
                    self._create(AliasClaim, AliasClaim.Created, alias=new_alias, rule_id=rule_id)
                else:
                    self._emit(claim, AliasClaim.Claimed, rule_id=rule_id)
        ref = rule_ref(rule_id)
        old_names = {old[c] for c in MAPPING_COLUMNS if old.get(c)}
        new_names = {new[c] for c in MAPPING_COLUMNS if new.get(c)}
        for name in sorted(old_names - new_names):
            usage = self._usage(name)
            if ref in usage.refs:
                self._emit(usage, ReleaseUsage.Detached, ref=ref)
        for name in sorted(new_names - old_names):
            usage = self._usage(name)
            if ref not in usage.refs:
                self._emit(usage, ReleaseUsage.Attached, ref=ref)

    def _usage(self, name: str) -> ReleaseUsage:
        usage = self.get(ids.release_usage_id(name), ReleaseUsage)
        if usage is None:
            usage = self._create(ReleaseUsage, ReleaseUsage.Created, name=name)
        return usage

    def _sequence(self, name: str, value: int) -> None:
        sequence = self.get(ids.sequence_id(name), Sequence)
        if sequence is None:
            sequence = self._create(Sequence, Sequence.Created, name=name)
        if value > sequence.value:
            self._emit(sequence, Sequence.Advanced, value=value)

    def _free(self, sc: ScheduledChange) -> None:
        lock = self.get(ids.pending_target_id(sc.kind, sc.target), PendingTarget)
        if lock is not None and lock.sc_id == sc.sc_id:
            self._emit(lock, PendingTarget.Freed)


def row_aggregate_ids(row: HistoryRow) -> list[UUID]:
    """The aggregates a history row is about (what a catch-up reads ahead)."""
    table, v = row.table, row.values
    try:
        if table == "rules":
            return [ids.rule_id(int(v["rule_id"]))]
        if table == "releases":
            return [ids.release_id(str(v["name"]))]
        if table == "emergency_shutoffs":
            return [ids.shutoff_id(str(v["product"]), str(v["channel"]))]
        if table == "pinnable_releases":
            return [ids.pin_id(str(v["product"]), str(v["channel"]), str(v["version"]))]
        if table in ("permissions", "user_roles"):
            return [ids.user_id(str(v["username"]))]
        if table in ("product_req_signoffs", "permissions_req_signoffs"):
            return [ids.signoff_policies_id()]
        kind = SC_KINDS.get(base_of(table))
        if kind is not None:
            return [ids.scheduled_change_id(kind, int(v["sc_id"]))]
    except (KeyError, TypeError, ValueError):
        pass  # a malformed row is reported when it is applied
    return []


def blob_digest(blob: Any) -> str:
    """Identifies a blob's content, so blobs need not stay in memory to be compared."""
    text = json.dumps(blob, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def describe_moment(ms: int | None) -> str | None:
    return ms_to_datetime(ms).isoformat() if ms is not None else None
