"""Required-signoff policies: Balrog's product and permissions signoff tables.

They are few (tens of rows) and read by nearly every command (which signoffs
does this change need?), so they live in one aggregate: one read gives all of
them, and each row keeps its own data_version as in Balrog.
"""

from __future__ import annotations

from typing import Any, Literal

from eventsourcing.domain import Aggregate, event

from rulelog.domain import ids
from rulelog.domain.errors import Conflict, NotFound

PolicyKind = Literal["product", "permissions"]
#: The columns that identify a policy row of each kind (the role included).
KEY_COLUMNS: dict[str, tuple[str, ...]] = {
    "product": ("product", "channel", "role"),
    "permissions": ("product", "role"),
}


def policy_key(kind: str, row: dict[str, Any]) -> str:
    """A row's identity as one string, stable across processes."""
    return "\x1f".join(str(row[c]) for c in KEY_COLUMNS[kind])


class SignoffPolicies(Aggregate):
    TOPIC = "rulelog:signoff-policies"

    create_id = staticmethod(ids.signoff_policies_id)

    @event("Created", topic="rulelog:signoff-policies.created")
    def __init__(self) -> None:
        #: kind -> key -> row (with data_version)
        self.rows: dict[str, dict[str, dict[str, Any]]] = {"product": {}, "permissions": {}}

    def rows_of(self, kind: str) -> list[dict[str, Any]]:
        return list(self.rows[kind].values())

    def all_rows(self) -> list[dict[str, Any]]:
        return [*self.rows["product"].values(), *self.rows["permissions"].values()]

    def find(self, kind: str, row: dict[str, Any]) -> dict[str, Any] | None:
        return self.rows[kind].get(policy_key(kind, row))

    def add(self, kind: str, row: dict[str, Any], changed_by: str) -> None:
        if self.find(kind, row) is not None:
            raise Conflict(f"a {kind} required signoff for {policy_key(kind, row)!r} exists")
        self._set(kind=kind, row=row, changed_by=changed_by)

    def change(self, kind: str, row: dict[str, Any], changed_by: str) -> None:
        if self.find(kind, row) is None:
            raise NotFound(f"no {kind} required signoff for {policy_key(kind, row)!r}")
        self._set(kind=kind, row=row, changed_by=changed_by)

    @event("PolicySet", topic="rulelog:signoff-policies.set")
    def _set(self, kind: str, row: dict[str, Any], changed_by: str) -> None:
        key = policy_key(kind, row)
        previous = self.rows[kind].get(key)
        version = previous["data_version"] + 1 if previous else 1
        self.rows[kind][key] = {**row, "data_version": version}

    def remove(self, kind: str, row: dict[str, Any], changed_by: str) -> None:
        if self.find(kind, row) is None:
            raise NotFound(f"no {kind} required signoff for {policy_key(kind, row)!r}")
        self._removed(kind=kind, key=policy_key(kind, row), changed_by=changed_by)

    @event("PolicyRemoved", topic="rulelog:signoff-policies.removed")
    def _removed(self, kind: str, key: str, changed_by: str) -> None:
        del self.rows[kind][key]
