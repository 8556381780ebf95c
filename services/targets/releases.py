"""Releases: a blob validated on every write; a new name opens its usage index,
a deletion retires it (refused while a rule maps to the release)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from uuid import UUID

from eventsourcing.domain import Aggregate

from rulelog.domain import ids
from rulelog.domain.catalog.releases import Release, check_release_identity
from rulelog.domain.errors import Conflict, Invalid
from rulelog.domain.serving.blobs.validation import validate_blob
from rulelog.domain.workflow.signoff_rules import Requirement, required_for_releases
from rulelog.services.targets.base import Current, RecreatableTarget
from rulelog.services.targets.release_links import rules_mapping, usage

if TYPE_CHECKING:
    from rulelog.services.app_base import AppBase


class Releases(RecreatableTarget):
    kind = "releases"
    permission = "release"
    aggregate_class = Release

    def key(self, row: dict[str, Any]) -> str:
        name = row.get("name")
        if not isinstance(name, str) or not name:
            raise Invalid("name: must name the release", field="name")
        return name

    def stream_id(self, key: str) -> UUID:
        return ids.release_id(key)

    def row_stream_id(self, row: dict[str, Any]) -> UUID:
        return ids.release_id(row["name"])

    def row_of(self, aggregate: Any) -> dict[str, Any]:
        return {
            "name": aggregate.name,
            "product": aggregate.product,
            "read_only": aggregate.read_only,
            "data": aggregate.blob,
        }

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

    def taken(self, row: dict[str, Any]) -> Conflict:
        return Conflict(f"release {row['name']} already exists", field="name")

    def recreated_fields(self, row: dict[str, Any]) -> dict[str, Any]:
        return {"product": row["product"], "blob": row["data"], "read_only": row["read_only"]}

    def plan_create(self, app: AppBase, row: dict[str, Any], changed_by: str) -> list[Aggregate]:
        release = Release(
            name=row["name"],
            product=row["product"],
            blob=row["data"],
            read_only=row["read_only"],
            changed_by=changed_by,
        )
        return [release, usage(app, row["name"])]

    def plan_update(
        self, app: AppBase, current: Current, row: dict[str, Any], changed_by: str
    ) -> list[Aggregate]:
        release = current.aggregate
        assert isinstance(release, Release)
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

    def plan_delete(self, app: AppBase, current: Current, changed_by: str) -> list[Aggregate]:
        release = current.aggregate
        assert isinstance(release, Release)
        index = usage(app, release.name)
        index.retire()
        release.delete(changed_by)
        return [release, index]
