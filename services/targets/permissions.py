"""Permissions: a user's grants; revoking the last one revokes the user's roles
too, as Balrog's ``Permissions.delete`` does."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from eventsourcing.domain import Aggregate

from rulelog.domain import ids
from rulelog.domain.access.permissions import UNSET, validate_grant
from rulelog.domain.access.users import RoleRoster, User
from rulelog.domain.errors import Invalid
from rulelog.domain.workflow.signoff_rules import (
    Requirement,
    check_role_revoke,
    required_for_permissions,
)
from rulelog.services.targets.base import ABSENT, Current, Target, without_version

if TYPE_CHECKING:
    from rulelog.services.app_base import AppBase


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
        merged = {**(current.row or {}), **without_version(row)}
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

    def plan_insert(self, app: AppBase, row: dict[str, Any], changed_by: str) -> list[Aggregate]:
        user = self._user(app, row, changed_by)
        user.grant(row["permission"], row["options"], changed_by)
        return [user]

    def plan_update(
        self, app: AppBase, current: Current, row: dict[str, Any], changed_by: str
    ) -> list[Aggregate]:
        user = self._user(app, row, changed_by)
        user.change(row["permission"], row["options"], changed_by)
        return [user]

    def plan_delete(self, app: AppBase, current: Current, changed_by: str) -> list[Aggregate]:
        user = current.aggregate
        assert isinstance(user, User) and current.row is not None
        user.revoke(current.row["permission"], changed_by)
        return [user, *_drop_roles_without_permissions(app, user, changed_by)]

    @staticmethod
    def _user(app: AppBase, row: dict[str, Any], changed_by: str) -> User:
        """The user a grant goes to (made on their first permission)."""
        return app.find_or_create(
            ids.user_id(row["username"]),
            User,
            lambda: User(username=row["username"], created_by=changed_by),
        )


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
