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

from typing import Any

from rulelog.domain import ids
from rulelog.domain.access.users import RoleRoster, User
from rulelog.domain.balrog.replay_base import (
    ImportRowError,
    ReplayBase,
    ReplayReport,
    blob_digest,
    describe_moment,
    row_aggregate_ids,
)
from rulelog.domain.balrog.rows import (
    SC_KINDS,
    HistoryRow,
    base_of,
    is_keys_only,
    permission_options,
    policy_kind,
    policy_row,
    release_blob,
    rule_fields,
    sc_condition,
    sc_target_row,
)
from rulelog.domain.catalog.pins import PinnableRelease
from rulelog.domain.catalog.releases import Release
from rulelog.domain.catalog.rules import RULE_SEQUENCE, Rule
from rulelog.domain.catalog.shutoffs import EmergencyShutoff
from rulelog.domain.errors import RulelogError
from rulelog.domain.workflow.policies import KEY_COLUMNS, SignoffPolicies, policy_key
from rulelog.domain.workflow.scheduling import PendingTarget, ScheduledChange

__all__ = [
    "BalrogReplay",
    "ImportRowError",
    "ReplayReport",
    "blob_digest",
    "describe_moment",
    "row_aggregate_ids",
]


class BalrogReplay(ReplayBase):
    """Turns Balrog history rows, given in time order, into domain events."""

    # ------------------------------------------------------------ the rows

    def apply(self, row: HistoryRow) -> None:
        """Record the change ``row`` records; raise ``ImportRowError`` if it cannot be."""
        self._row = row
        self.report.saw(row)
        table = row.table
        before = self.produced
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
        self.note_change_id(row, before)

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
        # What a release's creation and its re-creation after a deletion both record.
        state = {"product": product, "blob": blob, "read_only": read_only, "changed_by": by}
        if release is None:
            release = self._create(Release, Release.Created, name=name, **state)
            gap = self._versions(0, values)
        elif release.deleted:
            self._emit(release, Release.Recreated, **state)
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
            gap = self._versions(0, values)
            shutoff = self._create(
                EmergencyShutoff,
                EmergencyShutoff.Created,
                product=product,
                channel=channel,
                comment=comment,
                changed_by=by,
            )
        elif shutoff.deleted:
            gap = self._versions(0, values)
            self._emit(shutoff, EmergencyShutoff.Recreated, comment=comment, changed_by=by)
        else:
            gap = self._versions(shutoff.data_version, values)
            self._emit(shutoff, EmergencyShutoff.CommentChanged, comment=comment, changed_by=by)
        for _ in range(gap):
            self._emit(shutoff, EmergencyShutoff.CommentChanged, comment=comment, changed_by=by)
        return None

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
