"""What Balrog's views check in a scheduled-change body before the database sees it.

Each kind has its own view in Balrog, with its own required fields, its own
"Missing field" and "Null/Empty Value" answers and its own list of fields a
modification may touch (the rest are silently dropped). This module turns a
body into a ``Plan`` -- change type, target row, condition, data_version --
for the domain's generic workflow, raising Balrog's problem where its view
would answer one. Everything the database layer checks (data versions,
permissions, signoffs, pending changes) is the domain's.
"""

from __future__ import annotations

import json
from collections.abc import Container
from dataclasses import dataclass, field
from typing import Any

from rulelog.api.admin.problems import Problem
from rulelog.api.admin.scheduled_rows import condition_columns, when_millis
from rulelog.api.admin.users_schemas import PERMISSION_PARAM
from rulelog.domain import bounded_json
from rulelog.domain.errors import Invalid

CHANGE_TYPES = ("insert", "update", "delete")

#: How Balrog names each kind in its "'when' cannot be set to null" and "Unknown sc_id" texts.
NOUNS = {
    "rules": ("a Rule", "rule"),
    "releases": ("a Release", "release"),
    "permissions": ("a Permission", "permission"),
    "required_signoffs/product": ("a Product Required Signoff", "product required signoff"),
    "required_signoffs/permissions": (
        "a Permissions Required Signoff",
        "permission required signoff",
    ),
    "pinnable_releases": ("a Pinnable Release", "pinnable release"),
    "emergency_shutoff": ("an Emergency Shutoff", "emergency shutoff"),
}

#: Fields the create body must have (the JSON schema's ``required``), per kind.
REQUIRED_ON_CREATE = {
    "rules": (),
    "releases": ("change_type", "name", "when"),
    "permissions": ("change_type", "permission", "username", "when"),
    "required_signoffs/product": ("change_type", "product", "channel", "role", "when"),
    "required_signoffs/permissions": ("change_type", "product", "role", "when"),
    "pinnable_releases": ("change_type", "product", "channel", "version", "when"),
    "emergency_shutoff": ("product", "channel"),
}


def _versioned(insert: tuple[str, ...], update: tuple[str, ...]) -> dict[str, tuple[str, ...]]:
    """A data-versioned kind's modifiable fields: ``when`` always, the row's own
    on insert and update, the ``data_version`` an update or delete is against."""
    return {
        "insert": ("when", *insert),
        "update": ("when", *update, "data_version"),
        "delete": ("when", "data_version"),
    }


#: Fields a modification may change, per kind and change type (Balrog drops the others).
MODIFIABLE = {
    "rules": None,  # every rule column but rule_id; see _rule_modifiable
    "releases": _versioned(("name", "product", "data"), ("data",)),
    "permissions": _versioned(("options", "permission", "username"), ("options",)),
    "required_signoffs/product": _versioned(
        ("product", "channel", "role", "signoffs_required"), ("signoffs_required",)
    ),
    "required_signoffs/permissions": _versioned(
        ("product", "role", "signoffs_required"), ("signoffs_required",)
    ),
    "pinnable_releases": _versioned(("product", "channel", "version", "mapping"), ("mapping",)),
    "emergency_shutoff": {"insert": ("when", "comment"), "update": ("when",), "delete": ("when",)},
}
RULE_DELETE_FIELDS = ("when", "telemetry_product", "telemetry_channel", "telemetry_uptake")
NOT_TARGET = {
    "change_type",
    "sc_id",
    "sc_data_version",
    "data_version",
    "when",
    "telemetry_product",
    "telemetry_channel",
    "telemetry_uptake",
}


@dataclass
class Plan:
    """A scheduled change as the domain takes it."""

    change_type: str | None
    row: dict[str, Any] = field(default_factory=dict)
    condition: dict[str, Any] | None = None
    data_version: int | None = None


def missing(name: str) -> Problem:
    return Problem(400, "Missing field", exception=f"{name} is missing")


def _as_int(name: str, value: Any, *, form: bool = False) -> Any:
    """Balrog's ``int(...)`` on a numeric field; a non-number is a 400, not its 500."""
    if value is None or (isinstance(value, int) and not isinstance(value, bool)):
        return value
    try:
        return int(str(value).strip())
    except ValueError:
        if form:  # Balrog's rule form, whose message names the format
            detail = f"Invalid input for {name}. Not an integer. "
            detail += f"{name}: {value!r} is not a '{name}'"
            raise Problem(400, detail) from None
        raise Invalid(f"{name}: must be an integer, got {value!r}", field=name) from None


def check_required(body: dict[str, Any], names: tuple[str, ...]) -> None:
    for name in names:
        if name not in body:
            raise Problem(400, f"'{name}' is a required property")


def check_change_type(kind: str, body: dict[str, Any]) -> None:
    """The JSON schema's enum on ``change_type`` (only deletions for shutoffs)."""
    allowed = ["delete"] if kind == "emergency_shutoff" else ["insert", "update", "delete"]
    value = body.get("change_type")
    if "change_type" in body and value not in allowed:
        raise Problem(400, f"change_type: {value!r} is not one of {allowed}")


#: The fields Balrog's schema takes as JSON text, and the types its message names.
JSON_TEXT_FIELDS: dict[str, tuple[str, str]] = {
    "releases": ("data", "'string'"),
    "permissions": ("options", "'string', 'null'"),
}


def check_permission_name(kind: str, body: dict[str, Any]) -> None:
    """The schema's enum of permission names, for a scheduled permission change."""
    names = PERMISSION_PARAM["enum"]
    value = body.get("permission")
    if kind == "permissions" and "permission" in body and value not in names:
        raise Problem(400, f"permission: {value!r} is not one of {names}")


def check_json_text(kind: str, body: dict[str, Any]) -> None:
    """Balrog's schema: a release's ``data`` and a permission's ``options`` are JSON text."""
    name, types = JSON_TEXT_FIELDS.get(kind, ("", ""))
    if not name or body.get(name) is None:
        return
    value = body[name]
    if not isinstance(value, str):
        raise Problem(400, f"{name}: {value!r} is not of type {types}")
    if value:
        try:
            bounded_json.loads(value)
        except json.JSONDecodeError as error:
            raise Problem(
                400,
                f"Not a valid json. Error: {error}. {name}: {value!r} is not a 'JSONStringField'",
            ) from None


def check_condition_set(kind: str, body: dict[str, Any]) -> None:
    """Balrog's conditions table: either a time or all three uptake fields, nothing else."""
    names = condition_columns(kind)
    given = [key for key in body if key in names and body[key]]
    if not given:
        return
    groups = [{"when"}] + ([set(names) - {"when"}] if len(names) > 1 else [])
    if set(given) not in groups:
        raise Problem(
            400,
            "Unknown error",
            exception=f"Invalid combination of conditions: dict_keys({given!r})",
        )


def check_when(what: dict[str, Any], now_ms: int) -> None:
    """Balrog's view check: a ``when`` given must not be in the past."""
    try:
        millis = when_millis(what.get("when"))
    except Invalid:
        return  # not a time at all: the domain says so
    if millis is not None and millis < now_ms:
        raise Problem(400, "Changes may not be scheduled in the past")


def condition_of(kind: str, what: dict[str, Any], base: dict[str, Any]) -> dict[str, Any] | None:
    """The condition after this body: given values over ``base``, empty ones dropped."""
    names = condition_columns(kind)
    if not any(name in what for name in names):
        return None
    merged = {**base, **{name: what[name] for name in names if name in what}}
    return {k: v for k, v in merged.items() if v not in (None, "")}


def _parse_json(name: str, value: Any) -> Any:
    """Fields Balrog takes as JSON text (a release's ``data``, a permission's ``options``)."""
    if not isinstance(value, str):
        return value
    try:
        return bounded_json.loads(value)
    except json.JSONDecodeError as error:
        raise Invalid(f"{name}: not valid JSON: {error}", field=name) from None


def _strip_rule_form(what: dict[str, Any]) -> dict[str, Any]:
    """Balrog's ``process_rule_form``: trimmed strings, blanks as null, numbers as ints."""
    out: dict[str, Any] = {}
    for key, value in what.items():
        if key in ("locale", "distribution") and isinstance(value, str) and value:
            value = "".join(value.split())
        if isinstance(value, str):
            value = value.strip() or None
        out[key] = value
    for name in ("priority", "backgroundRate", "data_version"):
        if out.get(name):
            out[name] = _as_int(name, out[name])
    return out


def _check_mappings(what: dict[str, Any], releases: Container[str], *, insert: bool) -> None:
    if ("mapping" in what or insert) and what.get("mapping") is None:
        raise Problem(400, "mapping value cannot be set to null/empty")
    for name in ("mapping", "fallbackMapping"):
        if what.get(name) is not None and what[name] not in releases:
            raise Problem(400, f"Invalid {name} value. No release name found in DB")


def _check_insert_values(row: dict[str, Any], *, absent_ok: bool, wording: str) -> None:
    """Balrog's "Null/Empty Value" check of the columns a new rule needs. Its two
    views differ: creating the change refuses a missing column ("null/empty"),
    modifying it only one sent as null ("null"); both refuse a blank string."""
    for name in ("update_type", "backgroundRate", "priority"):
        value = row.get(name)
        null = value is None and (name in row or not absent_ok)
        if null or (isinstance(value, str) and not value.strip()):
            raise Problem(
                400,
                "Null/Empty Value",
                exception=f"{name} cannot be set to {wording} "
                "when scheduling insertion of a new rule",
            )


def _target_row(what: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in what.items() if k not in NOT_TARGET}


# ------------------------------------------------------------------ create


def creation(
    kind: str, body: dict[str, Any], query_type: str | None, now_ms: int, releases: Container[str]
) -> Plan:
    """A new scheduled change from a POST body, checked as Balrog's view checks it."""
    if kind == "rules":  # the formats of Balrog's rule form come first
        for name in ("data_version", "rule_id"):
            if body.get(name) is not None:
                _as_int(name, body[name], form=True)
    check_required(body, REQUIRED_ON_CREATE[kind])
    check_change_type(kind, body)
    check_permission_name(kind, body)
    check_json_text(kind, body)
    if kind == "emergency_shutoff" and body.get("change_type") != "delete":
        raise Problem(400, "Invalid or missing change_type")
    if kind != "emergency_shutoff" and body.get("when") is None:
        quote = "" if kind == "required_signoffs/product" else "'"
        raise Problem(
            400,
            f"{quote}when{quote} cannot be set to null when scheduling a new change "
            f"for {NOUNS[kind][0]}",
        )
    if "sc_id" in body:
        raise Problem(400, "sc_id cannot be set when scheduling a new change")
    change_type = body.get("change_type") if body else query_type
    what = dict(body)
    if kind == "rules":
        what = _rule_creation(what, change_type, releases)
    else:
        if change_type == "insert":
            what.pop("data_version", None)
        _check_creation_fields(kind, what, change_type)
    if change_type not in CHANGE_TYPES:
        raise Problem(400, "Invalid or missing change_type")
    check_when(what, now_ms)
    check_condition_set(kind, what)
    return Plan(
        change_type=change_type,
        row=_target_row(what),
        condition=condition_of(kind, what, {}) or {},
        data_version=_as_int("data_version", what.get("data_version")),
    )


def _rule_creation(
    what: dict[str, Any], change_type: Any, releases: Container[str]
) -> dict[str, Any]:
    kept: dict[str, Any] = {}
    for name, value in what.items():
        if change_type == "insert" and name in ("rule_id", "data_version"):
            continue
        if change_type == "delete" and name not in (
            *RULE_DELETE_FIELDS,
            "rule_id",
            "data_version",
            "change_type",
        ):
            continue
        kept[name] = (
            _as_int(name, value, form=True) if name in ("rule_id", "data_version") else value
        )
    if change_type in ("update", "delete"):
        for name in ("rule_id", "data_version"):
            if not kept.get(name):
                raise missing(name)
    elif change_type == "insert":
        _check_insert_values(kept, absent_ok=False, wording="null/empty")
    if change_type in ("update", "insert"):
        kept = _strip_rule_form(kept)
        _check_mappings(kept, releases, insert=change_type == "insert")
    return kept


def _check_creation_fields(kind: str, what: dict[str, Any], change_type: Any) -> None:
    """The per-view checks of the kinds other than rules (mutates ``what``)."""
    needs_version = change_type in ("update", "delete") and kind != "emergency_shutoff"
    if needs_version and not what.get("data_version"):
        raise missing("data_version")
    if kind == "releases":
        if change_type == "insert":
            if not what.get("product"):
                raise missing("product")
            if not what.get("data"):
                raise Problem(400, "Missing field", exception="Missing blob 'data' value")
        if what.get("data"):
            what["data"] = _parse_json("data", what["data"])
    elif kind == "permissions":
        _options(what)
    elif kind.startswith("required_signoffs/"):
        if change_type in ("update", "insert") and not what.get("signoffs_required"):
            raise missing("signoffs_required")
        if what.get("signoffs_required") is not None:
            what["signoffs_required"] = _as_int("signoffs_required", what["signoffs_required"])
    elif kind == "pinnable_releases" and change_type != "delete" and not what.get("mapping"):
        raise missing("mapping")


def _options(what: dict[str, Any]) -> None:
    """A permission's ``options``: JSON text in Balrog's body; empty means none."""
    if what.get("options"):
        options = _parse_json("options", what["options"])
        what["options"] = options if options else None


# ------------------------------------------------------------------ modify


def modification(
    kind: str,
    change_type: str,
    body: dict[str, Any],
    condition: dict[str, Any],
    now_ms: int,
    releases: Container[str],
) -> Plan:
    """A modification of a pending change, checked as Balrog's view checks it."""
    check_required(body, ("sc_data_version",))
    check_json_text(kind, body)
    if kind == "rules":
        what = _rule_modifiable(body, change_type, releases)
    else:
        allowed = MODIFIABLE[kind][change_type]  # type: ignore[index]
        what = {k: v for k, v in body.items() if k in allowed}
        needs_version = change_type in ("update", "delete") and kind != "emergency_shutoff"
        if needs_version and not what.get("data_version"):
            raise missing("data_version")
        if kind == "releases":
            if change_type == "insert" and "data" in what and not what.get("data"):
                raise Problem(
                    400,
                    "Null/Empty Value",
                    exception="data cannot be set to null when scheduling insertion of a "
                    "new release",
                )
            if what.get("data"):
                what["data"] = _parse_json("data", what["data"])
        elif kind == "permissions":
            _options(what)
        elif what.get("signoffs_required"):
            what["signoffs_required"] = _as_int("signoffs_required", what["signoffs_required"])
    check_when(what, now_ms)
    return Plan(
        change_type=change_type,
        row=_target_row(what),
        condition=condition_of(kind, what, condition),
        data_version=_as_int("data_version", what.get("data_version")),
    )


def _rule_modifiable(
    body: dict[str, Any], change_type: str, releases: Container[str]
) -> dict[str, Any]:
    what = {
        k: v
        for k, v in body.items()
        if k not in ("rule_id", "sc_data_version", "change_type")
        and not (change_type == "insert" and k == "data_version")
        and not (change_type == "delete" and k not in RULE_DELETE_FIELDS)
    }
    if change_type == "update" and not what.get("data_version"):
        raise missing("data_version")
    if change_type == "insert":
        _check_insert_values(what, absent_ok=True, wording="null")
    if change_type in ("update", "insert"):
        what = _strip_rule_form(what)
        _check_mappings(what, releases, insert=False)
    return what
