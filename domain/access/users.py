"""Users: their permissions and roles, one stream per user.

Balrog keeps permissions and roles as rows, each with its own data_version.
A ``User`` aggregate holds a user's rows and counts each row's data_version
from its (re)grant, so a permission check is one read of the acting user.
``RoleRoster`` counts who holds a role, saved with every grant and revoke, so
"no policy may need more signoffs than there are holders" holds under
concurrent writers.
"""

from __future__ import annotations

from typing import Any

from eventsourcing.domain import Aggregate, event

from rulelog.domain import ids
from rulelog.domain.errors import Conflict, NotFound
from rulelog.domain.upcasting import fields_added


class _HolderEvent(Aggregate.Event):
    """Someone joined or left a role's holders (``changed_by`` added in version 2)."""

    class_version = 2
    username: str  #: who joined or left: the subject, not the actor
    changed_by: str | None  #: None in events stored before v2
    upcast_v1_v2 = fields_added(changed_by=None)


class _CreatedByV2(Aggregate):
    """An aggregate whose ``Created`` event gained ``created_by`` (who caused it:
    the granter) in version 2; events stored before v2 read it as None. Each kind
    declares its ``Created`` by its ``__init__``, whose parameters are the fields."""

    class Created(Aggregate.Created):
        class_version = 2
        upcast_v1_v2 = fields_added(created_by=None)


class User(_CreatedByV2):
    TOPIC = "rulelog:user"

    create_id = staticmethod(ids.user_id)

    @event("Created", topic="rulelog:user.created")
    def __init__(self, username: str, created_by: str | None = None) -> None:
        self.username = username
        #: permission -> {"options": ..., "data_version": n}
        self.permissions: dict[str, dict[str, Any]] = {}
        #: role -> {"data_version": n}
        self.roles: dict[str, dict[str, Any]] = {}

    @property
    def held(self) -> dict[str, dict[str, Any]]:
        """Permission name -> options: what ``domain.permissions`` decides on."""
        return {name: row["options"] for name, row in self.permissions.items()}

    def permission_row(self, permission: str) -> dict[str, Any]:
        if permission not in self.permissions:
            raise NotFound(
                f"{self.username} does not hold the {permission} permission",
                username=self.username,
                permission=permission,
            )
        return self.permissions[permission]

    def grant(self, permission: str, options: dict[str, Any], changed_by: str) -> None:
        if permission in self.permissions:
            raise Conflict(
                f"{self.username} already holds the {permission} permission",
                username=self.username,
                permission=permission,
            )
        self._granted(permission=permission, options=options, changed_by=changed_by)

    # Stored fields in this order (permission, changed_by, options); callers pass keywords.
    @event("PermissionGranted", topic="rulelog:user.permission-granted")
    def _granted(self, permission: str, changed_by: str, options: dict[str, Any]) -> None:
        self.permissions[permission] = {"options": options, "data_version": 1}

    def change(self, permission: str, options: dict[str, Any], changed_by: str) -> None:
        self.permission_row(permission)
        self._changed(permission=permission, options=options, changed_by=changed_by)

    @event("PermissionChanged", topic="rulelog:user.permission-changed")
    def _changed(self, permission: str, changed_by: str, options: dict[str, Any]) -> None:
        row = self.permissions[permission]
        row["options"] = options
        row["data_version"] += 1

    def revoke(self, permission: str, changed_by: str) -> None:
        self.permission_row(permission)
        self._revoked(permission=permission, changed_by=changed_by)

    @event("PermissionRevoked", topic="rulelog:user.permission-revoked")
    def _revoked(self, permission: str, changed_by: str) -> None:
        del self.permissions[permission]

    def grant_role(self, role: str, changed_by: str) -> None:
        if role in self.roles:
            raise Conflict(f"{self.username} already holds the {role} role", role=role)
        self._role_granted(role=role, changed_by=changed_by)

    @event("RoleGranted", topic="rulelog:user.role-granted")
    def _role_granted(self, role: str, changed_by: str) -> None:
        self.roles[role] = {"data_version": 1}

    def revoke_role(self, role: str, changed_by: str) -> None:
        if role not in self.roles:
            raise NotFound(f"{self.username} does not hold the {role} role", role=role)
        self._role_revoked(role=role, changed_by=changed_by)

    @event("RoleRevoked", topic="rulelog:user.role-revoked")
    def _role_revoked(self, role: str, changed_by: str) -> None:
        del self.roles[role]


class RoleRoster(_CreatedByV2):
    """Who holds a role; saved with each role grant and revoke."""

    TOPIC = "rulelog:role-roster"

    class Joined(_HolderEvent):
        TOPIC = "rulelog:role-roster.joined"

    class Left(_HolderEvent):
        TOPIC = "rulelog:role-roster.left"

    create_id = staticmethod(ids.role_roster_id)

    @event("Created", topic="rulelog:role-roster.created")
    def __init__(self, role: str, created_by: str | None = None) -> None:
        self.role = role
        self.holders: set[str] = set()

    @event(Joined)
    def join(self, username: str, changed_by: str | None = None) -> None:
        self.holders.add(username)

    @event(Left)
    def leave(self, username: str, changed_by: str | None = None) -> None:
        self.holders.discard(username)
