"""Emergency shutoffs: inserted or deleted, never updated; switching updates
off never waits for signoffs, switching them back on may."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from uuid import UUID

from rulelog.domain import ids
from rulelog.domain.catalog.shutoff_pin_fields import normalize_shutoff
from rulelog.domain.catalog.shutoffs import EmergencyShutoff
from rulelog.domain.errors import Conflict
from rulelog.domain.workflow.signoff_rules import Requirement, required_for_shutoffs
from rulelog.services.targets.base import Current, RecreatableTarget, without_version

if TYPE_CHECKING:
    from rulelog.services.app_base import AppBase


class Shutoffs(RecreatableTarget):
    kind = "emergency_shutoff"
    permission = "emergency_shutoff"
    change_types = ("insert", "delete")
    aggregate_class = EmergencyShutoff

    def key(self, row: dict[str, Any]) -> str:
        return f"{row.get('product')}/{row.get('channel')}"

    def stream_id(self, key: str) -> UUID:
        product, _, channel = key.partition("/")
        return ids.shutoff_id(product, channel)

    def row_stream_id(self, row: dict[str, Any]) -> UUID:
        return ids.shutoff_id(row["product"], row["channel"])

    def normalize(self, change_type: str, row: dict[str, Any], current: Current) -> dict[str, Any]:
        return normalize_shutoff(without_version(row))

    def required(
        self, app: AppBase, current: Current, new: dict[str, Any] | None
    ) -> list[Requirement]:
        if new is not None:  # switching updates off never waits for signoffs
            return []
        return required_for_shutoffs([current.row], app.policies().rows_of("product"))

    def taken(self, row: dict[str, Any]) -> Conflict:
        return Conflict(
            f"an emergency shutoff for {row['product']} on {row['channel']} already exists"
        )

    def recreated_fields(self, row: dict[str, Any]) -> dict[str, Any]:
        return {"comment": row.get("comment")}
