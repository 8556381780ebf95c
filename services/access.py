"""Users, permissions and roles.

Permissions are rows like any other and go through the generic change path
(so they can be scheduled and need signoffs where Balrog says so); roles are
granted and revoked directly, as in Balrog. ``add_user`` is the bootstrap:
it bypasses permission checks because only the local CLI calls it, whose
operator already holds the store (like a database shell), and it records
who ran it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eventsourcing.domain import Aggregate

from rulelog.domain import ids
from rulelog.domain.access.permissions import check_role_grant, validate_grant
from rulelog.domain.access.users import RoleRoster, User
from rulelog.domain.catalog.channels import ChannelMap, names_on_its_own
from rulelog.domain.catalog.rules import Rule
from rulelog.domain.errors import Conflict, Invalid, NotFound, SignoffRequired
from rulelog.domain.workflow.signoff_rules import check_role_revoke
from rulelog.services import changes
from rulelog.services.app_base import AppBase
from rulelog.services.changes import changed_as
from rulelog.services.targets import target_for

ROLE_MAX = 50


class AccessCommands(AppBase):
    """Users, permissions, roles, signoff policies and test channels (a mixin on ``AppBase``)."""

    def get_user(self, username: str) -> User:
        user = self.user(username)
        if user is None or not (user.permissions or user.roles):
            raise NotFound(f"user {username} does not exist", username=username)
        return user

    def add_user(self, username: str, *, admin: bool, recorded_by: str) -> User:
        """Bootstrap (local CLI only): make sure ``username`` exists, optionally as admin."""
        if not isinstance(username, str) or not username or len(username) > 100:
            raise Invalid("username: must be a string of 1-100 characters", field="username")

        def attempt() -> User:
            user = self.user(username) or User(username=username, created_by=recorded_by)
            if admin and "admin" not in user.permissions:
                user.grant("admin", validate_grant("admin", None), recorded_by)
            self.save(user)
            return user

        return self.with_retries(attempt)

    def grant_permission(
        self, username: str, permission: str, options: dict[str, Any] | None, changed_by: str
    ) -> User:
        row = {"username": username, "permission": permission, "options": options}
        return changed_as(User, changes.change(self, "permissions", "insert", row, changed_by))

    def change_permission(
        self,
        username: str,
        permission: str,
        options: dict[str, Any] | None,
        data_version: int,
        changed_by: str,
    ) -> User:
        row = {"username": username, "permission": permission, "options": options}
        return changed_as(
            User, changes.change(self, "permissions", "update", row, changed_by, data_version)
        )

    def revoke_permission(
        self, username: str, permission: str, data_version: int, changed_by: str
    ) -> User:
        row = {"username": username, "permission": permission}
        return changed_as(
            User, changes.change(self, "permissions", "delete", row, changed_by, data_version)
        )

    def grant_role(self, username: str, role: str, changed_by: str) -> User:
        if not isinstance(role, str) or not role or len(role) > ROLE_MAX:
            raise Invalid(f"role: must be a string of 1-{ROLE_MAX} characters", field="role")

        def attempt() -> User:
            self.require(changed_by, "role.grant")
            user = self.user(username)
            check_role_grant(user.held if user else {})
            assert user is not None
            user.grant_role(role, changed_by)
            roster = self.find(ids.role_roster_id(role), RoleRoster) or RoleRoster(
                role=role, created_by=changed_by
            )
            roster.join(username, changed_by)
            self.save(user, roster)
            return user

        return self.with_retries(attempt)

    def revoke_role(
        self, username: str, role: str, changed_by: str, data_version: int | None = None
    ) -> User:
        """Revoke a role; with ``data_version`` (Balrog's API requires it) only if current."""

        def attempt() -> User:
            self.require(changed_by, "role.revoke")
            user = self.get_user(username)
            roster = self.find(ids.role_roster_id(role), RoleRoster) or RoleRoster(
                role=role, created_by=changed_by
            )
            check_role_revoke(role, self.policies().all_rows(), len(roster.holders))
            if data_version is not None and role in user.roles:
                self.check_data_version(
                    f"role {role} of {username}", user.roles[role]["data_version"], data_version
                )
            user.revoke_role(role, changed_by)
            roster.leave(username, changed_by)
            # The policies are read, not written; saving the roster makes a
            # concurrent policy change (which saves it too) conflict with us.
            self.save(user, roster)
            return user

        return self.with_retries(attempt)

    def add_required_signoff(self, kind: str, row: dict[str, Any], changed_by: str) -> None:
        changes.change(self, f"required_signoffs/{kind}", "insert", row, changed_by)

    def remove_required_signoff(
        self, kind: str, row: dict[str, Any], data_version: int, changed_by: str
    ) -> None:
        changes.change(self, f"required_signoffs/{kind}", "delete", row, changed_by, data_version)

    # ------------------------------------------------------- test channels

    def channel_map(self) -> ChannelMap:
        return self.find(ids.channel_map_id(), ChannelMap) or ChannelMap()

    def map_test_channel(self, live: str, test: str, changed_by: str) -> ChannelMap:
        """Declare ``test`` a test channel of ``live`` (admin only: it changes what
        every client on ``test`` is served)."""

        def attempt() -> ChannelMap:
            self.require_admin(changed_by, "map test channels")
            mapping = self.channel_map()
            mapping.map(live, test, changed_by)
            self.save(mapping)
            return mapping

        return self.with_retries(attempt)

    def unmap_test_channel(self, test: str, changed_by: str) -> ChannelMap:
        def attempt() -> ChannelMap:
            self.require_admin(changed_by, "unmap test channels")
            mapping = self.channel_map()
            mapping.unmap(test, changed_by)
            self.save(mapping)
            return mapping

        return self.with_retries(attempt)

    def derive_test_channel(
        self, live: str, test: str, retire: Sequence[tuple[int, int]], changed_by: str
    ) -> ChannelMap:
        """Derive ``test`` from ``live`` on purpose: delete the rules that keep it by
        hand (``retire``: rule_id and data_version of each) as ordinary direct
        deletions -- permissions, signoff policies, data_versions and pending changes
        apply to each as to any deletion -- and map it, all in one save, so the
        channel is never half derived. A deletion that needs signoff refuses the whole.
        """

        def attempt() -> ChannelMap:
            self.require_admin(changed_by, "derive test channels")
            with self.unit_of_work():
                mapping = self.channel_map()
                already = mapping.tests.get(test) == live
                if already and not retire:
                    raise Conflict(f"{test} is already derived from {live}")
                if not already:
                    mapping.map(live, test, changed_by)
                touched: list[Aggregate] = [mapping]
                for rule_id, data_version in retire:
                    touched += self._retire(rule_id, data_version, live, test, changed_by)
                self.save(*{id(a): a for a in touched}.values())
            return mapping

        return self.with_retries(attempt)

    def _retire(
        self, rule_id: int, data_version: int, live: str, test: str, changed_by: str
    ) -> list[Aggregate]:
        rule = self.find(ids.rule_id(rule_id), Rule)
        if rule is None or rule.deleted:
            raise NotFound(f"rule {rule_id} does not exist", rule=rule_id)
        if not names_on_its_own(rule.fields.get("channel"), test, live):
            raise Invalid(f"rule {rule_id} does not keep {test} hand-kept", field="rules")
        try:
            return changes.plan_change(
                self, target_for("rules"), "delete", {"rule_id": rule_id}, data_version, changed_by
            )
        except SignoffRequired as error:
            roles = ", ".join(
                f"{r['signoffs_required']} {r['role']}" for r in error.context.get("required", [])
            )
            raise SignoffRequired(
                f"rule {rule_id} keeps {test} hand-kept and deleting it requires signoffs "
                f"({roles}): schedule its deletion, and derive {test} once it is enacted",
                **error.context,
            ) from error
