"""Pinnable releases: a pin's mapping must name a live release."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from uuid import UUID

from eventsourcing.domain import Aggregate

from rulelog.domain import ids
from rulelog.domain.catalog.pins import PinnableRelease
from rulelog.domain.catalog.shutoff_pin_fields import normalize_pin
from rulelog.domain.errors import Conflict
from rulelog.services.targets.base import Current, RecreatableTarget, without_version
from rulelog.services.targets.release_links import require_release

if TYPE_CHECKING:
    from rulelog.services.app_base import AppBase


class Pins(RecreatableTarget):
    kind = "pinnable_releases"
    permission = "pinnable_release"
    aggregate_class = PinnableRelease

    def key(self, row: dict[str, Any]) -> str:
        return f"{row.get('product')}/{row.get('channel')}/{row.get('version')}"

    def stream_id(self, key: str) -> UUID:
        product, channel, version = [*key.split("/", 2), "", ""][:3]
        return ids.pin_id(product, channel, version)

    def row_stream_id(self, row: dict[str, Any]) -> UUID:
        return ids.pin_id(row["product"], row["channel"], row["version"])

    def normalize(self, change_type: str, row: dict[str, Any], current: Current) -> dict[str, Any]:
        return normalize_pin({**(current.row or {}), **without_version(row)})

    def taken(self, row: dict[str, Any]) -> Conflict:
        return Conflict(f"pin {self.key(row)} already exists")

    def recreated_fields(self, row: dict[str, Any]) -> dict[str, Any]:
        return {"mapping": row["mapping"]}

    def plan_insert(self, app: AppBase, row: dict[str, Any], changed_by: str) -> list[Aggregate]:
        require_release(app, row["mapping"], field="mapping")
        return super().plan_insert(app, row, changed_by)

    def plan_update(
        self, app: AppBase, current: Current, row: dict[str, Any], changed_by: str
    ) -> list[Aggregate]:
        require_release(app, row["mapping"], field="mapping")
        pin = current.aggregate
        assert isinstance(pin, PinnableRelease)
        pin.change_mapping(row["mapping"], changed_by)
        return [pin]
