"""What can be changed, one adapter per kind of Balrog row.

Direct edits and scheduled changes go through the same adapters, so a change
enacted by the agent is exactly the change a direct edit would have made:
same validation, same permission checks, same index upkeep. An adapter knows
how to find a row's current state, validate a new row, name the permission
checks and required signoffs, and *plan* the change: build the touched
aggregates without saving them, so the caller can save them atomically with
whatever else belongs to the same fact (an enactment, a merged schedule).

A change that restores a prior row (``rulelog restore``) goes through the
adapter's ``restoring`` variant, which validates the row as a stored row
rather than as a client's request; ``check_restores`` verifies, against the
row's history, that it is the row it claims to bring back.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.domain import Aggregate

from rulelog.domain import ids
from rulelog.domain.access.permissions import UNSET, validate_grant
from rulelog.domain.access.users import RoleRoster, User
from rulelog.domain.bounds import id_from
from rulelog.domain.catalog.pins import PinnableRelease
from rulelog.domain.catalog.releases import Release, ReleaseUsage, check_release_identity
from rulelog.domain.catalog.rule_fields import normalize_rule
from rulelog.domain.catalog.rules import MAPPING_COLUMNS, RULE_SEQUENCE, AliasClaim, Rule, rule_ref
from rulelog.domain.catalog.shutoff_pin_fields import normalize_pin, normalize_shutoff
from rulelog.domain.catalog.shutoffs import EmergencyShutoff
from rulelog.domain.errors import Conflict, Invalid, NotFound
from rulelog.domain.sequence import Sequence
from rulelog.domain.serving.blobs.validation import validate_blob
from rulelog.domain.workflow.policies import KEY_COLUMNS
from rulelog.domain.workflow.signoff_rules import (
    Requirement,
    check_role_revoke,
    required_for_permission_policies,
    required_for_permissions,
    required_for_product_policies,
    required_for_releases,
    required_for_rules,
    required_for_shutoffs,
    validate_policy,
)
from rulelog.services.policy_holders import check_enough_holders

if TYPE_CHECKING:
    from rulelog.services.app_base import AppBase

VERBS = {"insert": "create", "update": "modify", "delete": "delete"}


@dataclass
class Current:
    """A target row as it is now: Balrog-shaped row, data_version, aggregate."""

    row: dict[str, Any] | None
    data_version: int | None
    aggregate: Aggregate | None

    @property
    def exists(self) -> bool:
        return self.row is not None


ABSENT = Current(None, None, None)


class Target:
    """One kind of schedulable row. Subclasses fill in the specifics."""

    kind: str
    permission: str
    uptake_allowed = False
    change_types: tuple[str, ...] = ("insert", "update", "delete")

    def key(self, row: dict[str, Any]) -> str:
        raise NotImplementedError

    def current(self, app: AppBase, key: str) -> Current:
        raise NotImplementedError

    def normalize(self, change_type: str, row: dict[str, Any], current: Current) -> dict[str, Any]:
        raise NotImplementedError

    def products(self, current: Current, new: dict[str, Any] | None) -> tuple[Any, Any]:
        cur = current.row.get("product") if current.row else None
        return cur, (new.get("product") if new is not None else UNSET)

    def required(
        self, app: AppBase, current: Current, new: dict[str, Any] | None
    ) -> list[Requirement]:
        return []

    def plan(
        self,
        app: AppBase,
        change_type: str,
        current: Current,
        row: dict[str, Any] | None,
        changed_by: str,
    ) -> list[Aggregate]:
        raise NotImplementedError

    def change_name(self, change_type: str) -> str:
        return f"{self.permission}.{VERBS[change_type]}"

    def describe(self, key: str) -> str:
        return f"{self.kind} {key}"

    def restoring(self) -> Target:
        """The adapter for changes that bring back a prior row exactly as it was."""
        raise Invalid(f"restores: {self.kind} changes cannot restore a prior row", field="restores")

    def check_restores(
        self, app: AppBase, change_type: str, restores: Any, new: dict[str, Any] | None
    ) -> dict[str, Any]:
        """Verify that ``new`` is the prior row ``restores`` names; return the reference."""
        raise Invalid(f"restores: {self.kind} changes cannot restore a prior row", field="restores")


# --------------------------------------------------------------------- rules


def _usage(app: AppBase, name: str) -> ReleaseUsage:
    return app.find_or_create(
        ids.release_usage_id(name), ReleaseUsage, lambda: ReleaseUsage(name=name)
    )


def require_release(app: AppBase, name: str, field: str) -> Release:
    release = app.find(ids.release_id(name), Release)
    if release is None or release.deleted:
        raise Invalid(f"{field}: no release named {name}", field=field, release=name)
    return release


def _claim_alias(app: AppBase, alias: str | None, rule_id: int) -> list[Aggregate]:
    if alias is None:
        return []
    claim = app.find(ids.alias_id(alias), AliasClaim)
    if claim is None:
        return [AliasClaim(alias=alias, rule_id=rule_id)]
    if claim.rule_id is not None and claim.rule_id != rule_id:
        raise Conflict(f"alias: {alias} is already used by rule {claim.rule_id}", field="alias")
    claim.claim(rule_id=rule_id)
    return [claim]


def _free_alias(app: AppBase, alias: str | None) -> list[Aggregate]:
    claim = app.find(ids.alias_id(alias), AliasClaim) if alias else None
    if claim is None:
        return []
    claim.release()
    return [claim]


def _remap(app: AppBase, rule: Rule, old: set[str]) -> list[Aggregate]:
    """Keep the usage index of each release this rule starts or stops naming."""
    new = rule.mapped_releases()
    for column in MAPPING_COLUMNS:
        name = rule.fields.get(column)
        if name and name not in old:
            require_release(app, name, field=column)
    touched: list[Aggregate] = []
    for name in sorted(new - old):
        usage = _usage(app, name)
        usage.attach(rule_ref(rule.rule_id))
        touched.append(usage)
    for name in sorted(old - new):
        usage = _usage(app, name)
        usage.detach(rule_ref(rule.rule_id))
        touched.append(usage)
    return touched


def _rule_row(rule: Rule) -> dict[str, Any]:
    return {"rule_id": rule.rule_id, **rule.fields}


class Rules(Target):
    kind = "rules"
    permission = "rule"
    uptake_allowed = True
    #: A new rule is checked as Balrog's admin API checks a client's request
    #: (a mapping is required, ...); a restored one as a stored rule.
    admin_api = True

    def key(self, row: dict[str, Any]) -> str:
        rule_id = row.get("rule_id")
        if not isinstance(rule_id, int) or isinstance(rule_id, bool):
            raise Invalid("rule_id: must name the rule to change", field="rule_id")
        return str(rule_id)

    def current(self, app: AppBase, key: str) -> Current:
        rule_id = id_from(key)
        rule = app.find(ids.rule_id(rule_id), Rule) if rule_id is not None else None
        if rule is None or rule.deleted:
            return ABSENT
        return Current(_rule_row(rule), rule.data_version, rule)

    def normalize(self, change_type: str, row: dict[str, Any], current: Current) -> dict[str, Any]:
        fields = {k: v for k, v in row.items() if k not in ("rule_id", "data_version")}
        if change_type == "insert":
            return {"rule_id": None, **normalize_rule(fields, admin_api=self.admin_api)}
        assert isinstance(current.aggregate, Rule)
        changes = current.aggregate.diff(fields)
        return {**(current.row or {}), **changes}

    def required(
        self, app: AppBase, current: Current, new: dict[str, Any] | None
    ) -> list[Requirement]:
        return required_for_rules([current.row, new], app.policies().rows_of("product"))

    def plan(
        self,
        app: AppBase,
        change_type: str,
        current: Current,
        row: dict[str, Any] | None,
        changed_by: str,
    ) -> list[Aggregate]:
        if change_type == "insert":
            assert row is not None
            sequence = app.find_or_create(
                ids.sequence_id(RULE_SEQUENCE), Sequence, lambda: Sequence(name=RULE_SEQUENCE)
            )
            fields = {k: v for k, v in row.items() if k != "rule_id"}
            rule = Rule.create(sequence.allocate(), fields, changed_by, admin_api=self.admin_api)
            return [
                rule,
                sequence,
                *_claim_alias(app, rule.alias, rule.rule_id),
                *_remap(app, rule, set()),
            ]
        rule = current.aggregate
        assert isinstance(rule, Rule)
        old_alias, old_mapped = rule.alias, rule.mapped_releases()
        if change_type == "delete":
            touched: list[Aggregate] = [rule, *_free_alias(app, old_alias)]
            for name in sorted(old_mapped):
                usage = _usage(app, name)
                usage.detach(rule_ref(rule.rule_id))
                touched.append(usage)
            rule.delete(changed_by)
            return touched
        assert row is not None
        rule.update(row, changed_by)
        touched = [rule]
        if rule.alias != old_alias:
            touched += _free_alias(app, old_alias)
            touched += _claim_alias(app, rule.alias, rule.rule_id)
        return touched + _remap(app, rule, old_mapped)

    def restoring(self) -> Target:
        return RESTORED_RULES

    def check_restores(
        self, app: AppBase, change_type: str, restores: Any, new: dict[str, Any] | None
    ) -> dict[str, Any]:
        """A deleted rule inserted again: ``new`` must be that rule's columns as they
        were at the ``data_version`` named (the rule comes back under a new id)."""
        if change_type != "insert" or new is None:
            raise Invalid(
                "restores: only an insert can bring back a deleted rule", field="restores"
            )
        if not isinstance(restores, dict) or set(restores) != {"rule_id", "data_version"}:
            raise Invalid(
                "restores: must name the rule_id and data_version of the rule brought back",
                field="restores",
            )
        rule_id, version = restores["rule_id"], restores["data_version"]
        for name, value in (("rule_id", rule_id), ("data_version", version)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise Invalid(f"restores: {name} must be a positive integer", field="restores")
        try:
            then = app.repository.get(ids.rule_id(rule_id), version=version)
        except AggregateNotFoundError:
            then = None
        if not isinstance(then, Rule) or then.version != version or then.deleted:
            raise Invalid(
                f"restores: rule {rule_id} never had data_version {version}", field="restores"
            )
        if {k: v for k, v in new.items() if k != "rule_id"} != normalize_rule(then.fields):
            raise Invalid(
                f"restores: the row is not rule {rule_id} as it was at data_version {version}",
                field="restores",
            )
        return {"rule_id": rule_id, "data_version": version}


class RestoredRules(Rules):
    """Rules brought back as they were: validated as stored rows, as an import is."""

    admin_api = False

    def restoring(self) -> Target:
        return self


RESTORED_RULES = RestoredRules()


# ------------------------------------------------------------------ releases


def rules_mapping(app: AppBase, name: str) -> list[dict[str, Any]]:
    """The live rules that name ``name`` as mapping or fallbackMapping."""
    usage = app.find(ids.release_usage_id(name), ReleaseUsage)
    rows = []
    for ref in sorted(usage.refs) if usage else []:
        rule = app.find(ids.rule_id(int(ref.split()[1])), Rule)
        if rule is not None and not rule.deleted:
            rows.append(_rule_row(rule))
    return rows


class Releases(Target):
    kind = "releases"
    permission = "release"

    def key(self, row: dict[str, Any]) -> str:
        name = row.get("name")
        if not isinstance(name, str) or not name:
            raise Invalid("name: must name the release", field="name")
        return name

    def current(self, app: AppBase, key: str) -> Current:
        release = app.find(ids.release_id(key), Release)
        if release is None or release.deleted:
            return ABSENT
        row = {
            "name": release.name,
            "product": release.product,
            "read_only": release.read_only,
            "data": release.blob,
        }
        return Current(row, release.data_version, release)

    def normalize(self, change_type: str, row: dict[str, Any], current: Current) -> dict[str, Any]:
        unknown = set(row) - {"name", "product", "data", "read_only", "data_version"}
        if unknown:
            raise Invalid(f"unknown field(s) {', '.join(sorted(unknown))}", field=min(unknown))
        base = current.row or {}
        new = {
            "name": row.get("name", base.get("name")),
            "product": row.get("product", base.get("product")),
            "read_only": row.get("read_only", base.get("read_only", False)),
            "data": row.get("data", base.get("data")),
        }
        check_release_identity(new["name"], new["product"])
        if not isinstance(new["read_only"], bool):
            raise Invalid("read_only: must be true or false", field="read_only")
        validate_blob(new["data"], name=new["name"])
        return new

    def required(
        self, app: AppBase, current: Current, new: dict[str, Any] | None
    ) -> list[Requirement]:
        if not current.exists:
            return []
        name = (current.row or {})["name"]
        return required_for_releases(
            [name], rules_mapping(app, name), app.policies().rows_of("product")
        )

    def plan(
        self,
        app: AppBase,
        change_type: str,
        current: Current,
        row: dict[str, Any] | None,
        changed_by: str,
    ) -> list[Aggregate]:
        if change_type == "insert":
            assert row is not None
            stored = app.find(ids.release_id(row["name"]), Release)
            if stored is None:
                release = Release(
                    name=row["name"],
                    product=row["product"],
                    blob=row["data"],
                    read_only=row["read_only"],
                    changed_by=changed_by,
                )
                return [release, _usage(app, row["name"])]
            if not stored.deleted:
                raise Conflict(f"release {row['name']} already exists", field="name")
            stored.recreate(
                product=row["product"],
                blob=row["data"],
                read_only=row["read_only"],
                changed_by=changed_by,
            )
            return [stored]
        release = current.aggregate
        assert isinstance(release, Release)
        if change_type == "delete":
            usage = _usage(app, release.name)
            usage.retire()
            release.delete(changed_by)
            return [release, usage]
        assert row is not None
        if row["read_only"]:
            release.require_writable()  # a read-only release only ever gets unlocked
        flips_read_only = row["read_only"] != release.read_only
        if row["data"] != release.blob or row["product"] != release.product or not flips_read_only:
            # Balrog bumps data_version on every accepted update, even one that
            # changes nothing (a retried upload): record it, so the version agrees.
            release.replace_blob(product=row["product"], blob=row["data"], changed_by=changed_by)
        if flips_read_only:
            release.set_read_only(row["read_only"], changed_by)
        return [release]


# --------------------------------------------------------- shutoffs and pins


class Shutoffs(Target):
    kind = "emergency_shutoff"
    permission = "emergency_shutoff"
    change_types = ("insert", "delete")

    def key(self, row: dict[str, Any]) -> str:
        return f"{row.get('product')}/{row.get('channel')}"

    def current(self, app: AppBase, key: str) -> Current:
        product, _, channel = key.partition("/")
        shutoff = app.find(ids.shutoff_id(product, channel), EmergencyShutoff)
        if shutoff is None or shutoff.deleted:
            return ABSENT
        row = {k: v for k, v in shutoff.as_balrog().items() if k != "data_version"}
        return Current(row, shutoff.data_version, shutoff)

    def normalize(self, change_type: str, row: dict[str, Any], current: Current) -> dict[str, Any]:
        return normalize_shutoff({k: v for k, v in row.items() if k != "data_version"})

    def required(
        self, app: AppBase, current: Current, new: dict[str, Any] | None
    ) -> list[Requirement]:
        if new is not None:  # switching updates off never waits for signoffs
            return []
        return required_for_shutoffs([current.row], app.policies().rows_of("product"))

    def plan(
        self,
        app: AppBase,
        change_type: str,
        current: Current,
        row: dict[str, Any] | None,
        changed_by: str,
    ) -> list[Aggregate]:
        if change_type == "delete":
            shutoff = current.aggregate
            assert isinstance(shutoff, EmergencyShutoff)
            shutoff.delete(changed_by)
            return [shutoff]
        assert row is not None
        stored = app.find(ids.shutoff_id(row["product"], row["channel"]), EmergencyShutoff)
        if stored is None:
            return [EmergencyShutoff(**row, changed_by=changed_by)]
        if not stored.deleted:
            raise Conflict(
                f"an emergency shutoff for {row['product']} on {row['channel']} already exists"
            )
        stored.recreate(comment=row.get("comment"), changed_by=changed_by)
        return [stored]


class Pins(Target):
    kind = "pinnable_releases"
    permission = "pinnable_release"

    def key(self, row: dict[str, Any]) -> str:
        return f"{row.get('product')}/{row.get('channel')}/{row.get('version')}"

    def current(self, app: AppBase, key: str) -> Current:
        product, channel, version = [*key.split("/", 2), "", ""][:3]
        pin = app.find(ids.pin_id(product, channel, version), PinnableRelease)
        if pin is None or pin.deleted:
            return ABSENT
        row = {k: v for k, v in pin.as_balrog().items() if k != "data_version"}
        return Current(row, pin.data_version, pin)

    def normalize(self, change_type: str, row: dict[str, Any], current: Current) -> dict[str, Any]:
        return normalize_pin(
            {**(current.row or {}), **{k: v for k, v in row.items() if k != "data_version"}}
        )

    def plan(
        self,
        app: AppBase,
        change_type: str,
        current: Current,
        row: dict[str, Any] | None,
        changed_by: str,
    ) -> list[Aggregate]:
        if change_type == "delete":
            pin = current.aggregate
            assert isinstance(pin, PinnableRelease)
            pin.delete(changed_by)
            return [pin]
        assert row is not None
        require_release(app, row["mapping"], field="mapping")
        if change_type == "update":
            pin = current.aggregate
            assert isinstance(pin, PinnableRelease)
            pin.change_mapping(row["mapping"], changed_by)
            return [pin]
        stored = app.find(
            ids.pin_id(row["product"], row["channel"], row["version"]), PinnableRelease
        )
        if stored is None:
            return [PinnableRelease(**row, changed_by=changed_by)]
        if not stored.deleted:
            raise Conflict(f"pin {self.key(row)} already exists")
        stored.recreate(mapping=row["mapping"], changed_by=changed_by)
        return [stored]


# ---------------------------------------------------------------- policies


class Policies(Target):
    """Product or permissions required signoffs (one adapter, two kinds)."""

    def __init__(self, policy_kind: str) -> None:
        self.policy_kind = policy_kind
        self.kind = f"required_signoffs/{policy_kind}"
        self.permission = f"{policy_kind}_required_signoff"

    def key(self, row: dict[str, Any]) -> str:
        return "/".join(str(row.get(c)) for c in KEY_COLUMNS[self.policy_kind])

    def current(self, app: AppBase, key: str) -> Current:
        columns = KEY_COLUMNS[self.policy_kind]
        row = dict(zip(columns, key.split("/", len(columns) - 1), strict=False))
        policies = app.policies()
        found = policies.find(self.policy_kind, row) if len(row) == len(columns) else None
        if found is None:
            return ABSENT
        plain = {k: v for k, v in found.items() if k != "data_version"}
        return Current(plain, found["data_version"], policies)

    def normalize(self, change_type: str, row: dict[str, Any], current: Current) -> dict[str, Any]:
        merged = {**(current.row or {}), **{k: v for k, v in row.items() if k != "data_version"}}
        return validate_policy(merged, self.policy_kind)  # type: ignore[arg-type]

    def products(self, current: Current, new: dict[str, Any] | None) -> tuple[Any, Any]:
        return None, UNSET

    def required(
        self, app: AppBase, current: Current, new: dict[str, Any] | None
    ) -> list[Requirement]:
        rows = app.policies().rows_of(self.policy_kind)
        if self.policy_kind == "product":
            return required_for_product_policies([current.row, new], rows)
        return required_for_permission_policies([current.row, new], rows)

    def plan(
        self,
        app: AppBase,
        change_type: str,
        current: Current,
        row: dict[str, Any] | None,
        changed_by: str,
    ) -> list[Aggregate]:
        policies = app.policies()
        if change_type == "delete":
            policies.remove(self.policy_kind, current.row or {}, changed_by)
            return [policies]
        assert row is not None
        roster = check_enough_holders(app, self.policy_kind, row)
        if change_type == "insert":
            policies.add(self.policy_kind, row, changed_by)
        else:
            policies.change(self.policy_kind, row, changed_by)
        # The roster is saved too, so a concurrent role revoke cannot slip under the check.
        return [policies, *([roster] if roster else [])]


# ------------------------------------------------------------- permissions


class Permissions(Target):
    kind = "permissions"
    permission = "permission"

    def key(self, row: dict[str, Any]) -> str:
        return f"{row.get('username')}/{row.get('permission')}"

    def current(self, app: AppBase, key: str) -> Current:
        username, _, permission = key.rpartition("/")
        user = app.user(username)
        if user is None or permission not in user.permissions:
            return ABSENT
        found = user.permissions[permission]
        row = {"username": username, "permission": permission, "options": found["options"]}
        return Current(row, found["data_version"], user)

    def normalize(self, change_type: str, row: dict[str, Any], current: Current) -> dict[str, Any]:
        merged = {**(current.row or {}), **{k: v for k, v in row.items() if k != "data_version"}}
        username = merged.get("username")
        if not isinstance(username, str) or not username or len(username) > 100:
            raise Invalid("username: must be a string of 1-100 characters", field="username")
        permission = merged.get("permission")
        options = validate_grant(permission, merged.get("options"))  # type: ignore[arg-type]
        return {"username": username, "permission": permission, "options": options}

    def products(self, current: Current, new: dict[str, Any] | None) -> tuple[Any, Any]:
        return None, UNSET

    def required(
        self, app: AppBase, current: Current, new: dict[str, Any] | None
    ) -> list[Requirement]:
        return required_for_permissions([current.row, new], app.policies().rows_of("permissions"))

    def plan(
        self,
        app: AppBase,
        change_type: str,
        current: Current,
        row: dict[str, Any] | None,
        changed_by: str,
    ) -> list[Aggregate]:
        if change_type == "delete":
            user = current.aggregate
            assert isinstance(user, User) and current.row is not None
            user.revoke(current.row["permission"], changed_by)
            return [user, *_drop_roles_without_permissions(app, user, changed_by)]
        assert row is not None
        user = app.find_or_create(
            ids.user_id(row["username"]),
            User,
            lambda: User(username=row["username"], created_by=changed_by),
        )
        if change_type == "insert":
            user.grant(row["permission"], row["options"], changed_by)
        else:
            user.change(row["permission"], row["options"], changed_by)
        return [user]


def _drop_roles_without_permissions(app: AppBase, user: User, changed_by: str) -> list[Aggregate]:
    """Balrog's ``Permissions.delete``: revoking a user's last permission revokes their
    roles too (each refused, as a role revoke is, if a policy could no longer be met)."""
    if user.permissions:
        return []
    rosters: list[Aggregate] = []
    for role in sorted(user.roles):
        roster = app.find(ids.role_roster_id(role), RoleRoster) or RoleRoster(
            role=role, created_by=changed_by
        )
        check_role_revoke(role, app.policies().all_rows(), len(roster.holders))
        user.revoke_role(role, changed_by)
        roster.leave(user.username, changed_by)
        rosters.append(roster)
    return rosters


TARGETS: dict[str, Target] = {
    t.kind: t
    for t in (
        Rules(),
        Releases(),
        Shutoffs(),
        Pins(),
        Policies("product"),
        Policies("permissions"),
        Permissions(),
    )
}


def target_for(kind: str) -> Target:
    if kind not in TARGETS:
        raise NotFound(f"no scheduled changes of kind {kind!r}; kinds: {', '.join(TARGETS)}")
    return TARGETS[kind]
