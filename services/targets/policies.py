"""Required-signoff policies, for products or for permissions (one adapter,
two kinds): all rows of both live in the one ``SignoffPolicies`` aggregate."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from eventsourcing.domain import Aggregate

from rulelog.domain.access.permissions import UNSET
from rulelog.domain.workflow.policies import KEY_COLUMNS
from rulelog.domain.workflow.signoff_rules import (
    Requirement,
    required_for_permission_policies,
    required_for_product_policies,
    validate_policy,
)
from rulelog.services.policy_holders import check_enough_holders
from rulelog.services.targets.base import ABSENT, Current, Target, without_version

if TYPE_CHECKING:
    from rulelog.services.app_base import AppBase


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
        return Current(without_version(found), found["data_version"], policies)

    def normalize(self, change_type: str, row: dict[str, Any], current: Current) -> dict[str, Any]:
        merged = {**(current.row or {}), **without_version(row)}
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

    def plan_insert(self, app: AppBase, row: dict[str, Any], changed_by: str) -> list[Aggregate]:
        return self._plan_write(app, row, changed_by, insert=True)

    def plan_update(
        self, app: AppBase, current: Current, row: dict[str, Any], changed_by: str
    ) -> list[Aggregate]:
        return self._plan_write(app, row, changed_by, insert=False)

    def _plan_write(
        self, app: AppBase, row: dict[str, Any], changed_by: str, *, insert: bool
    ) -> list[Aggregate]:
        """Add or change a policy, refused if its role has too few holders."""
        policies = app.policies()
        roster = check_enough_holders(app, self.policy_kind, row)
        if insert:
            policies.add(self.policy_kind, row, changed_by)
        else:
            policies.change(self.policy_kind, row, changed_by)
        # The roster is saved too, so a concurrent role revoke cannot slip under the check.
        return [policies, *([roster] if roster else [])]

    def plan_delete(self, app: AppBase, current: Current, changed_by: str) -> list[Aggregate]:
        policies = app.policies()
        policies.remove(self.policy_kind, current.row or {}, changed_by)
        return [policies]
