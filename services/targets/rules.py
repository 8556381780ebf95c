"""Rules: a new rule takes the next id, keeps its alias unique and the usage
index of each release it maps to; a deleted rule comes back under a new id."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.domain import Aggregate

from rulelog.domain import ids
from rulelog.domain.bounds import id_from
from rulelog.domain.catalog.rule_fields import normalize_rule
from rulelog.domain.catalog.rules import MAPPING_COLUMNS, RULE_SEQUENCE, AliasClaim, Rule, rule_ref
from rulelog.domain.errors import Conflict, Invalid
from rulelog.domain.sequence import Sequence
from rulelog.domain.workflow.signoff_rules import Requirement, required_for_rules
from rulelog.services.targets.base import Current, RowTarget, Target
from rulelog.services.targets.release_links import require_release, rule_row, usage

if TYPE_CHECKING:
    from rulelog.services.app_base import AppBase


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
        index = usage(app, name)
        index.attach(rule_ref(rule.rule_id))
        touched.append(index)
    for name in sorted(old - new):
        index = usage(app, name)
        index.detach(rule_ref(rule.rule_id))
        touched.append(index)
    return touched


class Rules(RowTarget):
    kind = "rules"
    permission = "rule"
    uptake_allowed = True
    aggregate_class = Rule
    #: A new rule is checked as Balrog's admin API checks a client's request
    #: (a mapping is required, ...); a restored one as a stored rule.
    admin_api = True

    def key(self, row: dict[str, Any]) -> str:
        rule_id = row.get("rule_id")
        if not isinstance(rule_id, int) or isinstance(rule_id, bool):
            raise Invalid("rule_id: must name the rule to change", field="rule_id")
        return str(rule_id)

    def stream_id(self, key: str) -> UUID | None:
        rule_id = id_from(key)
        return ids.rule_id(rule_id) if rule_id is not None else None

    def row_of(self, aggregate: Any) -> dict[str, Any]:
        return rule_row(aggregate)

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

    def plan_insert(self, app: AppBase, row: dict[str, Any], changed_by: str) -> list[Aggregate]:
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

    def plan_update(
        self, app: AppBase, current: Current, row: dict[str, Any], changed_by: str
    ) -> list[Aggregate]:
        rule = current.aggregate
        assert isinstance(rule, Rule)
        old_alias, old_mapped = rule.alias, rule.mapped_releases()
        rule.update(row, changed_by)
        touched: list[Aggregate] = [rule]
        if rule.alias != old_alias:
            touched += _free_alias(app, old_alias)
            touched += _claim_alias(app, rule.alias, rule.rule_id)
        return touched + _remap(app, rule, old_mapped)

    def plan_delete(self, app: AppBase, current: Current, changed_by: str) -> list[Aggregate]:
        rule = current.aggregate
        assert isinstance(rule, Rule)
        touched: list[Aggregate] = [rule, *_free_alias(app, rule.alias)]
        for name in sorted(rule.mapped_releases()):
            index = usage(app, name)
            index.detach(rule_ref(rule.rule_id))
            touched.append(index)
        rule.delete(changed_by)
        return touched

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
