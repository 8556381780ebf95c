"""Balrog's history tables, replayed as the domain events they record (pure).

Balrog writes the state of a row after every change into ``<table>_history``:
an insert is a keys-only row (the row did not exist) followed by the full row,
an update is the full new row, a delete is a keys-only row. Replayed in time
order, each full row of a row that does not exist is a creation, of one that
exists an update, and each keys-only row of one that exists a deletion (the
keys-only row before an insert changes nothing and is counted as such).

Every event carries the history row's time as its timestamp and its
``changed_by`` as the actor, so the log's position->time index covers the
imported past, and ``data_version`` (the aggregate's version) equals
Balrog's. What Balrog did not keep is imported as the earliest state it has:
a row whose history starts after its creation (or has none) starts at its
first known state, and a jump in ``data_version`` (history rows removed) is
filled with events that change nothing, by the actor of the row after the
gap, so later versions keep Balrog's numbers; each such gap is reported.

The index aggregates that keep rulelog's invariants (id sequences, alias
claims, who maps a release, pending-change locks, role rosters) are kept up
to date as the rows go by, with the same times, so commands work on the
imported store and a catch-up (``--since-last``) continues from it.

``BalrogReplay`` holds one aggregate per Balrog row in memory (release blobs
are dropped once their events are taken) and hands out the events in history
order with ``take_events``; the caller writes them.
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
from rulelog.domain.access.users import RoleRoster, User
from rulelog.domain.balrog.rows import (
    SC_KINDS,
    HistoryRow,
    base_of,
    is_keys_only,
    ms_to_datetime,
    permission_options,
    policy_kind,
    policy_row,
    release_blob,
    rule_fields,
    sc_condition,
    sc_target_row,
)
from rulelog.domain.catalog.pins import PinnableRelease
from rulelog.domain.catalog.releases import Release, ReleaseUsage
from rulelog.domain.catalog.rules import MAPPING_COLUMNS, RULE_SEQUENCE, AliasClaim, Rule, rule_ref
from rulelog.domain.catalog.shutoffs import EmergencyShutoff
from rulelog.domain.errors import Invalid, RulelogError
from rulelog.domain.sequence import Sequence
from rulelog.domain.workflow.policies import KEY_COLUMNS, SignoffPolicies, policy_key
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


class BalrogReplay:
    """Turns Balrog history rows, given in time order, into domain events."""

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
        self._events.extend(agg.collect_events())
        self.report.events[event_cls.TOPIC] += 1

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

    # ------------------------------------------------------------ the rows

    def apply(self, row: HistoryRow) -> None:
        """Record the change ``row`` records; raise ``ImportRowError`` if it cannot be."""
        self._row = row
        self.report.saw(row)
        table = row.table
        try:
            if table.endswith("_scheduled_changes_signoffs"):
                self._signoff(row)
            elif table.endswith("_scheduled_changes"):
                self._scheduled(row)
            else:
                getattr(self, f"_{table}")(row)
        except ImportRowError:
            raise
        except RulelogError as error:
            raise self._fail(str(error.message), getattr(error, "field", None)) from None

    def _marker(self, kind: str) -> None:
        """Balrog's keys-only row just before an insert: it records that nothing was there."""
        self.report.insert_marks += 1

    # rules ---------------------------------------------------------------

    def _rules(self, row: HistoryRow) -> None:
        values, by = row.values, row.changed_by
        rule_id = values.get("rule_id")
        if not isinstance(rule_id, int):
            raise self._fail(f"not an integer: {rule_id!r}", "rule_id")
        rule = self.get(ids.rule_id(rule_id), Rule)
        if is_keys_only("rules", values):
            if rule is None or rule.deleted:
                return self._marker("rules")
            self._index_rule(rule_id, rule.fields, {})
            return self._emit(rule, Rule.Deleted, changed_by=by)
        fields = rule_fields(values)
        if rule is not None and rule.deleted:
            raise self._fail(
                f"rule {rule_id} is created again after its deletion; rulelog never reuses "
                "a deleted rule's id",
                "rule_id",
            )
        if rule is None:
            gap = self._versions(0, values)
            rule = self._create(Rule, Rule.Created, rule_id=rule_id, fields=fields, changed_by=by)
            self._sequence(RULE_SEQUENCE, rule_id)
            self._index_rule(rule_id, {}, fields)
        else:
            gap = self._versions(rule.data_version, values)
            changes = {k: v for k, v in fields.items() if rule.fields.get(k) != v}
            self._index_rule(rule_id, rule.fields, {**rule.fields, **changes})
            self._emit(rule, Rule.Updated, changes=changes, changed_by=by)
        for _ in range(gap):
            self._emit(rule, Rule.Updated, changes={}, changed_by=by)
        return None

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

    # releases ------------------------------------------------------------

    def _releases(self, row: HistoryRow) -> None:
        values, by = row.values, row.changed_by
        name = values.get("name")
        if not isinstance(name, str) or not name:
            raise self._fail(f"not a release name: {name!r}", "name")
        release = self.get(ids.release_id(name), Release)
        if is_keys_only("releases", values):
            if release is None or release.deleted:
                return self._marker("releases")
            return self._emit(release, Release.Deleted, changed_by=by)
        blob = release_blob(values, name)
        product = values.get("product")
        if not isinstance(product, str) or not product:
            raise self._fail(f"not a product: {product!r}", "product")
        read_only = bool(values.get("read_only") or False)
        if release is None:
            release = self._create(
                Release,
                Release.Created,
                name=name,
                product=product,
                blob=blob,
                read_only=read_only,
                changed_by=by,
            )
            gap = self._versions(0, values)
        elif release.deleted:
            self._emit(
                release,
                Release.Recreated,
                product=product,
                blob=blob,
                read_only=read_only,
                changed_by=by,
            )
            gap = self._versions(0, values)
        else:
            gap = self._versions(release.data_version, values)
            same_blob = self.release_digests.get(name) == blob_digest(blob)
            if read_only != release.read_only and same_blob and product == release.product:
                self._emit(release, Release.ReadOnlyChanged, read_only=read_only, changed_by=by)
            else:
                if read_only != release.read_only:
                    self.report.gaps.append(
                        f"{row.label}: blob and read_only changed in one row; "
                        "recorded as two events"
                    )
                    self._emit(release, Release.ReadOnlyChanged, read_only=read_only, changed_by=by)
                self._emit(release, Release.BlobReplaced, product=product, blob=blob, changed_by=by)
        self.release_digests[name] = blob_digest(blob)
        for _ in range(gap):
            self._emit(release, Release.ReadOnlyChanged, read_only=read_only, changed_by=by)

    # emergency shutoffs and pins -----------------------------------------

    def _emergency_shutoffs(self, row: HistoryRow) -> None:
        values, by = row.values, row.changed_by
        product, channel = values.get("product"), values.get("channel")
        shutoff = self.get(ids.shutoff_id(str(product), str(channel)), EmergencyShutoff)
        if is_keys_only("emergency_shutoffs", values) and values.get("data_version") is None:
            if shutoff is None or shutoff.deleted:
                return self._marker("emergency_shutoffs")
            return self._emit(shutoff, EmergencyShutoff.Deleted, changed_by=by)
        comment = values.get("comment")
        if shutoff is None:
            self._versions(0, values)
            self._create(
                EmergencyShutoff,
                EmergencyShutoff.Created,
                product=product,
                channel=channel,
                comment=comment,
                changed_by=by,
            )
        elif shutoff.deleted:
            self._versions(0, values)
            self._emit(shutoff, EmergencyShutoff.Recreated, comment=comment, changed_by=by)
        else:
            self._versions(shutoff.data_version, values)
            self.report.skipped["emergency_shutoffs: edit of a shutoff's comment"] += 1

    def _pinnable_releases(self, row: HistoryRow) -> None:
        values, by = row.values, row.changed_by
        key = (str(values.get("product")), str(values.get("channel")), str(values.get("version")))
        pin = self.get(ids.pin_id(*key), PinnableRelease)
        if is_keys_only("pinnable_releases", values):
            if pin is None or pin.deleted:
                return self._marker("pinnable_releases")
            return self._emit(pin, PinnableRelease.Deleted, changed_by=by)
        mapping = values.get("mapping")
        if pin is None:
            pin = self._create(
                PinnableRelease,
                PinnableRelease.Created,
                product=key[0],
                channel=key[1],
                version=key[2],
                mapping=mapping,
                changed_by=by,
            )
            gap = self._versions(0, values)
        elif pin.deleted:
            self._emit(pin, PinnableRelease.Recreated, mapping=mapping, changed_by=by)
            gap = self._versions(0, values)
        else:
            gap = self._versions(pin.data_version, values)
            self._emit(pin, PinnableRelease.MappingChanged, mapping=mapping, changed_by=by)
        for _ in range(gap):
            self._emit(pin, PinnableRelease.MappingChanged, mapping=mapping, changed_by=by)

    # users, roles, required signoffs -------------------------------------

    def _user(self, username: Any) -> User:
        if not isinstance(username, str) or not username:
            raise self._fail(f"not a user name: {username!r}", "username")
        user = self.get(ids.user_id(username), User)
        if user is None:
            assert self._row is not None
            user = self._create(
                User, User.Created, username=username, created_by=self._row.changed_by
            )
        return user

    def _permissions(self, row: HistoryRow) -> None:
        values, by = row.values, row.changed_by
        user = self._user(values.get("username"))
        permission = str(values.get("permission"))
        held = user.permissions.get(permission)
        if is_keys_only("permissions", values):
            if held is None:
                return self._marker("permissions")
            return self._emit(user, User.PermissionRevoked, permission=permission, changed_by=by)
        options = permission_options(values)
        if held is None:
            gap = self._versions(0, values)
            self._emit(
                user, User.PermissionGranted, permission=permission, options=options, changed_by=by
            )
        else:
            gap = self._versions(held["data_version"], values)
            self._emit(
                user, User.PermissionChanged, permission=permission, options=options, changed_by=by
            )
        for _ in range(gap):
            self._emit(
                user, User.PermissionChanged, permission=permission, options=options, changed_by=by
            )

    def _user_roles(self, row: HistoryRow) -> None:
        values, by = row.values, row.changed_by
        user = self._user(values.get("username"))
        role = values.get("role")
        if not isinstance(role, str) or not role:
            raise self._fail(f"not a role: {role!r}", "role")
        roster = self.get(ids.role_roster_id(role), RoleRoster)
        if is_keys_only("user_roles", values):
            if role not in user.roles:
                return self._marker("user_roles")
            self._emit(user, User.RoleRevoked, role=role, changed_by=by)
            if roster is not None and user.username in roster.holders:
                self._emit(roster, RoleRoster.Left, username=user.username, changed_by=by)
            return None
        if role in user.roles:
            raise self._fail(f"{user.username} already holds {role}", "role")
        self._versions(0, values)
        self._emit(user, User.RoleGranted, role=role, changed_by=by)
        if roster is None:
            roster = self._create(RoleRoster, RoleRoster.Created, role=role, created_by=by)
        self._emit(roster, RoleRoster.Joined, username=user.username, changed_by=by)
        return None

    def _policies(self) -> SignoffPolicies:
        policies = self.get(ids.signoff_policies_id(), SignoffPolicies)
        if policies is None:
            policies = self._create(SignoffPolicies, SignoffPolicies.Created)
        return policies

    def _required_signoffs(self, row: HistoryRow) -> None:
        values, by, table = row.values, row.changed_by, row.table
        kind = policy_kind(table)
        policies = self._policies()
        key = policy_key(kind, {c: values.get(c) for c in KEY_COLUMNS[kind]})
        held = policies.rows[kind].get(key)
        if is_keys_only(table, values):
            if held is None:
                return self._marker(table)
            return self._emit(
                policies, SignoffPolicies.PolicyRemoved, kind=kind, key=key, changed_by=by
            )
        new = policy_row(table, values)
        gap = self._versions(held["data_version"] if held else 0, values)
        for _ in range(gap + 1):
            self._emit(policies, SignoffPolicies.PolicySet, kind=kind, row=new, changed_by=by)
        return None

    _product_req_signoffs = _required_signoffs
    _permissions_req_signoffs = _required_signoffs

    # scheduled changes ---------------------------------------------------

    def _sc(self, table: str, sc_id: Any) -> tuple[str, ScheduledChange | None]:
        kind = SC_KINDS.get(base_of(table))
        if kind is None:
            raise self._fail(f"rulelog keeps no scheduled changes of {base_of(table)}", None)
        if not isinstance(sc_id, int):
            raise self._fail(f"not an integer: {sc_id!r}", "sc_id")
        return kind, self.get(ids.scheduled_change_id(kind, sc_id), ScheduledChange)

    def _scheduled(self, row: HistoryRow) -> None:
        values, by, table = row.values, row.changed_by, row.table
        sc_id = values.get("sc_id")
        kind, sc = self._sc(table, sc_id)
        assert isinstance(sc_id, int)
        if is_keys_only(table, values):
            if sc is None or not sc.pending:
                return self._marker(table)
            self._emit(sc, ScheduledChange.Cancelled, changed_by=by)
            return self._free(sc)
        if sc is not None and not sc.pending:
            raise self._fail(f"scheduled change {sc_id} changes after it ended", "complete")
        if sc is not None and values.get("complete"):
            self._versions(sc.data_version, values)
            self._emit(
                sc, ScheduledChange.Enacted, enacted_by=by, required=sc.required, verification={}
            )
            return self._free(sc)
        change_type = values.get("change_type")
        if change_type not in ("insert", "update", "delete"):
            raise self._fail(f"not insert, update or delete: {change_type!r}", "change_type")
        target, new = sc_target_row(base_of(table), sc_id, change_type, values)
        condition = sc_condition(values)
        base_dv = values.get("base_data_version")
        if sc is None:
            self._versions(0, values)
            sc = self._create(
                ScheduledChange,
                ScheduledChange.Created,
                kind=kind,
                sc_id=sc_id,
                change_type=change_type,
                target=target,
                row=new,
                base_data_version=base_dv,
                condition=condition,
                scheduled_by=values.get("scheduled_by") or by,
                required=[],
                restores=None,
            )
            self._sequence(f"sc:{kind}", sc_id)
            lock = self.get(ids.pending_target_id(kind, target), PendingTarget)
            if lock is None:
                self._create(
                    PendingTarget, PendingTarget.Created, kind=kind, target=target, sc_id=sc_id
                )
            else:
                self._emit(lock, PendingTarget.Claimed, sc_id=sc_id)
            if values.get("complete"):
                self._emit(sc, ScheduledChange.Enacted, enacted_by=by, required=[], verification={})
                self._free(sc)
            return None
        self._versions(sc.data_version, values)
        self._emit(
            sc,
            ScheduledChange.Modified,
            row=new,
            base_data_version=base_dv,
            condition=condition,
            changed_by=values.get("scheduled_by") or by,
            required=sc.required,
            restores=None,
        )
        return None

    def _free(self, sc: ScheduledChange) -> None:
        lock = self.get(ids.pending_target_id(sc.kind, sc.target), PendingTarget)
        if lock is not None and lock.sc_id == sc.sc_id:
            self._emit(lock, PendingTarget.Freed)

    def _signoff(self, row: HistoryRow) -> None:
        values, by, table = row.values, row.changed_by, row.table
        _, sc = self._sc(table, values.get("sc_id"))
        username = values.get("username")
        if is_keys_only(table, values):
            if sc is None or username not in sc.signoffs:
                # The mark before a signoff, or the reset of one a modification dropped.
                self.report.insert_marks += 1
                return
            self._emit(sc, ScheduledChange.SignoffRevoked, username=username, changed_by=by)
            return
        if sc is None:
            raise self._fail(
                f"a signoff of scheduled change {values.get('sc_id')}, which does not exist",
                "sc_id",
            )
        if not isinstance(username, str) or not isinstance(values.get("role"), str):
            raise self._fail("a signoff needs a username and a role", "role")
        self._emit(
            sc, ScheduledChange.SignedOff, username=username, role=values["role"], fingerprints={}
        )


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
