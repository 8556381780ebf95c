"""Balrog's stored rows, read as rulelog's domain values (pure, no I/O).

A Balrog history row is the state of one row after a change; which change it
was follows from the state before it (see ``domain.balrog_replay``). This
module knows each table's key columns, which rows are *keys only* (Balrog's
mark of "the row does not exist": written just before an insert and for a
delete), and how a row becomes what a rulelog aggregate or scheduled change
holds. Errors name the field; the replay adds the table and the row.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from rulelog.domain.access.permissions import validate_grant
from rulelog.domain.catalog.rule_fields import normalize_rule
from rulelog.domain.errors import Invalid
from rulelog.domain.workflow.policies import KEY_COLUMNS

#: Balrog base table -> its key columns (the primary key).
TABLE_KEYS: dict[str, tuple[str, ...]] = {
    "permissions": ("permission", "username"),
    "user_roles": ("username", "role"),
    "product_req_signoffs": ("product", "channel", "role"),
    "permissions_req_signoffs": ("product", "role"),
    "releases": ("name",),
    "rules": ("rule_id",),
    "emergency_shutoffs": ("product", "channel"),
    "pinnable_releases": ("product", "version", "channel"),
}
#: Base tables in the order their rows are applied when times are equal: who may
#: act and what needs signoffs first, then what rules map to, then the rules.
BASE_TABLES: tuple[str, ...] = tuple(TABLE_KEYS)
#: Base tables whose changes can be scheduled -> rulelog's scheduled-change kind.
SC_KINDS: dict[str, str] = {
    "rules": "rules",
    "releases": "releases",
    "emergency_shutoffs": "emergency_shutoff",
    "pinnable_releases": "pinnable_releases",
    "product_req_signoffs": "required_signoffs/product",
    "permissions_req_signoffs": "required_signoffs/permissions",
    "permissions": "permissions",
}
#: Tables whose rows are not imported (reported with their counts): the history of
#: v2 release scheduled changes (``V2_SC_HISTORY_NOT_IMPORTED`` says why); pending ones
#: are imported from their current rows (``domain.balrog.v2_releases``), ended ones
#: live on in the releases.
UNSUPPORTED_TABLES: tuple[str, ...] = (
    "releases_json_scheduled_changes_history",
    "release_assets_scheduled_changes_history",
)
#: The histories of those changes' conditions and signoffs, not imported either.
UNSUPPORTED_PARTS: tuple[str, ...] = tuple(
    f"{t.removesuffix('_history')}_{part}_history"
    for t in UNSUPPORTED_TABLES
    for part in ("conditions", "signoffs")
)
#: Why (the summary's line): what importing them as the v1 ones are would need.
V2_SC_HISTORY_NOT_IMPORTED = (
    "the history of v2 scheduled changes (releases_json_ and release_assets_"
    "scheduled_changes, their conditions and signoffs) is not imported: rulelog keeps "
    "one kind of scheduled release change, numbered with releases_scheduled_changes' "
    "ids, whose row is a whole release; Balrog numbers each of the three tables from 1 "
    "(so a v2 change cannot keep its id), a v2 change holds one part (the base, or one "
    "locale's asset), and the whole release it applied to at that time is not in the "
    "database (Balrog keeps the history of releases_json and release_assets in cloud "
    "storage), so no row for it can be made; pending ones are imported merged per "
    "release, ended ones' effect is in the releases"
)
#: Keys of the split (v2) release tables, which ``domain.balrog.v2_releases`` reads.
V2_KEYS: dict[str, tuple[str, ...]] = {
    "releases_json": ("name",),
    "release_assets": ("name", "path"),
    "releases_json_scheduled_changes": ("base_name",),
}
#: The columns of a scheduled change's conditions.
CONDITION_COLUMNS = ("when", "telemetry_product", "telemetry_channel", "telemetry_uptake")
_POLICY_KIND = {"product_req_signoffs": "product", "permissions_req_signoffs": "permissions"}


@dataclass(frozen=True)
class HistoryRow:
    """One row of a Balrog ``*_history`` table (or a current row standing in for one).

    ``table`` names the history table's base (``rules``, ``rules_scheduled_changes``,
    ``rules_scheduled_changes_signoffs``); a scheduled change's row carries its
    conditions row's columns too. ``change_id`` is None for a current row whose
    history Balrog did not keep.
    """

    table: str
    change_id: int | None
    changed_by: str
    timestamp: int
    values: Mapping[str, Any]

    @property
    def label(self) -> str:
        """How an error names this row: the history table and change id, or the key."""
        if self.change_id is None:
            keys = ", ".join(f"{k}={self.values.get(k)!r}" for k in keys_of(self.table))
            return f"{self.table} (current row {keys})"
        return f"{self.table}_history change_id {self.change_id}"

    @property
    def moment(self) -> datetime:
        return ms_to_datetime(self.timestamp)


def ms_to_datetime(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def keys_of(table: str) -> tuple[str, ...]:
    if table in TABLE_KEYS or table in V2_KEYS:
        return TABLE_KEYS.get(table) or V2_KEYS[table]
    if table.endswith("_signoffs"):
        return ("sc_id", "username")
    return ("sc_id",)


def base_of(table: str) -> str:
    """``rules_scheduled_changes_signoffs`` -> ``rules``."""
    return table.split("_scheduled_changes")[0]


def is_keys_only(table: str, values: Mapping[str, Any]) -> bool:
    """Balrog's "no such row" mark: every column but the keys is NULL."""
    keys = keys_of(table)
    return all(v is None for k, v in values.items() if k not in keys)


def key_of(table: str, values: Mapping[str, Any]) -> tuple[Any, ...]:
    return tuple(values.get(k) for k in keys_of(table))


def _json(value: Any, field: str) -> Any:
    if isinstance(value, str | bytes):
        try:
            return json.loads(value)
        except ValueError:
            raise Invalid(f"{field}: not valid JSON", field=field) from None
    return value


#: A JSON column's value, parsed if the database hands it over as text.
json_column = _json


def rule_fields(values: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """A rules row's columns (``base_`` ones for a scheduled change), normalized."""
    if prefix:
        cut = len(prefix)
        raw = {k[cut:]: v for k, v in values.items() if k.startswith(prefix)}
    else:
        raw = dict(values)
    raw.pop("rule_id", None)
    raw.pop("data_version", None)
    for flag in ("jaws", "mig64"):
        if isinstance(raw.get(flag), int) and not isinstance(raw.get(flag), bool):
            raw[flag] = bool(raw[flag])
    return normalize_rule(raw)


def release_blob(values: Mapping[str, Any], name: str, prefix: str = "") -> dict[str, Any]:
    """A release's blob, which must name the release (rulelog relies on it)."""
    blob = _json(values.get(f"{prefix}data"), "data")
    if not isinstance(blob, dict):
        raise Invalid("data: a release blob must be a JSON object", field="data")
    if blob.get("name") != name:
        raise Invalid(f"data: the blob names {blob.get('name')!r}, not {name!r}", field="data")
    return blob


def permission_options(values: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    options = _json(values.get(f"{prefix}options"), "options")
    return validate_grant(str(values.get(f"{prefix}permission")), options)


def policy_row(table: str, values: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    kind = _POLICY_KIND[table]
    row = {c: values.get(f"{prefix}{c}") for c in KEY_COLUMNS[kind]}
    required = values.get(f"{prefix}signoffs_required")
    if not isinstance(required, int) or required < 1:
        raise Invalid("signoffs_required: must be a positive integer", field="signoffs_required")
    return {**row, "signoffs_required": required}


def policy_kind(table: str) -> str:
    return _POLICY_KIND[table]


def sc_condition(values: Mapping[str, Any]) -> dict[str, Any]:
    """A scheduled change's condition as rulelog stores it (``when`` as ISO 8601)."""
    when = values.get("when")
    if when is not None:
        return {"when": ms_to_datetime(int(when)).isoformat()}
    uptake = {k: values.get(k) for k in CONDITION_COLUMNS[1:]}
    if any(v is None for v in uptake.values()):
        raise Invalid("when: a scheduled change needs a time or an uptake condition", field="when")
    return uptake


def sc_target_key(base: str, sc_id: int, change_type: str, values: Mapping[str, Any]) -> str:
    """A scheduled change's target as rulelog names it (``domain.targets``): ``"12"``
    for rule 12 or ``"new:7"`` for a rule insert, ``name``, ``product/channel``, ..."""
    if base == "rules":
        rule_id = values.get("base_rule_id")
        return f"new:{sc_id}" if change_type == "insert" or rule_id is None else str(rule_id)
    columns = {
        "releases": ("name",),
        "emergency_shutoffs": ("product", "channel"),
        "pinnable_releases": ("product", "channel", "version"),
        "permissions": ("username", "permission"),
    }.get(base) or KEY_COLUMNS[_POLICY_KIND[base]]
    return "/".join(str(values.get(f"base_{c}")) for c in columns)


def sc_target_row(
    base: str, sc_id: int, change_type: str, values: Mapping[str, Any]
) -> tuple[str, dict[str, Any] | None]:
    """(target key, the row the change would write; None for a delete)."""
    key = sc_target_key(base, sc_id, change_type, values)
    if change_type == "delete":
        return key, None
    p = "base_"
    row: dict[str, Any]
    if base == "rules":
        row = {"rule_id": values.get("base_rule_id"), **rule_fields(values, p)}
    elif base == "releases":
        name = str(values.get("base_name"))
        row = {
            "name": name,
            "product": values.get("base_product"),
            "read_only": bool(values.get("base_read_only") or False),
            "data": release_blob(values, name, p),
        }
    elif base == "emergency_shutoffs":
        row = {c: values.get(f"base_{c}") for c in ("product", "channel", "comment")}
    elif base == "pinnable_releases":
        row = {c: values.get(f"base_{c}") for c in ("product", "channel", "version", "mapping")}
    elif base == "permissions":
        row = {
            "username": values.get("base_username"),
            "permission": values.get("base_permission"),
            "options": permission_options(values, p),
        }
    else:
        row = policy_row(base, values, p)
    return key, row
