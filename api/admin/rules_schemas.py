"""What ``/api/rules`` takes and answers, and the body checks Balrog makes first.

Balrog validates a rule body against its swagger schema before its handler
runs, and clients see that validator's first error as the problem's
``detail`` (``'priority' is a required property``, ``"priority: 'x' is not a
'priority'"`` after the format checker's own sentence). The schema is
re-expressed here as JSON Schema draft 4 with the same keyword order, and
checked with the ``jsonschema`` package, so the first error and its text are
Balrog's. Its schema does not forbid unknown members, so neither does this
one: they are dropped, as Balrog's table layer drops them. The domain then
validates every value again (``domain.rule_fields``), more strictly where
Balrog's runtime could not cope.
"""

from __future__ import annotations

import re
from typing import Any

from jsonschema import Draft4Validator, FormatChecker, ValidationError
from pydantic import BaseModel, ConfigDict, Field

from rulelog.api.admin.problems import Problem
from rulelog.domain.catalog.rule_fields import RULE_COLUMNS, normalize_rule
from rulelog.domain.errors import Invalid

# ------------------------------------------------------------------ models


class RuleIn(BaseModel):
    """A rule body as Balrog's schema accepts it (integers may come as strings)."""

    model_config = ConfigDict(extra="allow")
    alias: str | None = None
    priority: int | str | None = None
    mapping: str | None = None
    fallbackMapping: str | None = None
    backgroundRate: int | str | None = None
    update_type: str | None = Field(None, description="minor or major")
    product: str | None = None
    version: str | None = None
    channel: str | None = None
    buildTarget: str | None = None
    buildID: str | None = None
    locale: str | None = None
    osVersion: str | None = None
    memory: str | None = None
    instructionSet: str | None = None
    jaws: bool | None = None
    mig64: bool | None = None
    distribution: str | None = None
    distVersion: str | None = None
    headerArchitecture: str | None = None
    comment: str | None = None


class RuleUpdateIn(RuleIn):
    """An update: the fields to change, and the ``data_version`` they were read at."""

    rule_id: int | str | None = None
    data_version: int | str = Field(..., description="the rule's data_version, >= 1")


class RuleOut(BaseModel):
    """A rule as Balrog answers it: every column, then ``data_version``."""

    model_config = ConfigDict(extra="allow")
    rule_id: int
    data_version: int


class RuleList(BaseModel):
    count: int
    rules: list[RuleOut] = Field(default_factory=list)


class ColumnValues(BaseModel):
    """``count`` and, under the column's own name, its distinct non-null values."""

    model_config = ConfigDict(extra="allow")
    count: int


def request_body(model: type[BaseModel]) -> dict[str, Any]:
    """``openapi_extra`` declaring ``model`` as the JSON body of a route that reads it raw."""
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": model.model_json_schema()}},
        }
    }


# ------------------------------------------------------- Balrog's schema

_NULLABLE_INT = ["integer", "string", "null"]
_NULLABLE_STR = ["string", "null"]


def _text(max_length: int, fmt: str = "ascii") -> dict[str, Any]:
    return {"type": _NULLABLE_STR, "format": fmt, "minLength": 0, "maxLength": max_length}


#: ``RulesBase``: every column but the id, in the order Balrog's schema lists them.
_RULES_BASE: dict[str, Any] = {
    "type": "object",
    "properties": {
        "priority": {"type": _NULLABLE_INT, "format": "priority"},
        "mapping": _text(100),
        "backgroundRate": {"type": _NULLABLE_INT, "format": "backgroundRate"},
        "product": _text(15),
        "version": _text(75, "version"),
        "channel": _text(75),
        "buildTarget": _text(75),
        "buildID": _text(20, "buildID"),
        "locale": _text(200),
        "osVersion": _text(1000),
        "distribution": _text(2000),
        "distVersion": _text(100),
        "headerArchitecture": _text(10),
        "comment": _text(500),
        "alias": {
            "type": _NULLABLE_STR,
            "minLength": 0,
            "maxLength": 50,
            "pattern": "(^[a-zA-Z][a-zA-Z0-9-]*$|^$)",
        },
        "instructionSet": _text(1000),
        "memory": _text(100),
        "fallbackMapping": _text(100),
        "mig64": {"type": ["boolean", "null"]},
        "jaws": {"type": ["boolean", "null"]},
    },
}
_UPDATE_TYPE: dict[str, Any] = {
    "type": "object",
    "properties": {
        "update_type": {
            "type": "string",
            "minLength": 0,
            "maxLength": 15,
            "enum": ["major", "minor"],
        }
    },
}
_NON_NULLABLE: dict[str, Any] = {
    "type": "object",
    "allOf": [
        _UPDATE_TYPE,
        {
            "type": "object",
            "properties": {
                "rule_id": {"type": ["integer", "string"], "format": "rule_id"},
                "data_version": {"type": ["integer", "string"], "format": "data_version"},
            },
        },
    ],
}
CREATE_SCHEMA = {
    "allOf": [
        {"required": ["update_type", "backgroundRate", "priority"]},
        _UPDATE_TYPE,
        _RULES_BASE,
    ]
}
UPDATE_SCHEMA = {"allOf": [{"required": ["data_version"]}, _RULES_BASE, _NON_NULLABLE]}

_formats = FormatChecker(formats=())


def _integer(name: str, value: Any, low: int, high: int | None = None) -> bool:
    """Balrog's integer formats: an int, or a string ``int()`` takes, within range."""
    if not isinstance(value, str | int) and value is not None:
        return False
    if value is None or value == "":
        return True
    try:
        number = int(value)
    except ValueError:
        raise ValidationError(f"Invalid input for {name}. Not an integer.") from None
    if number < low:
        raise ValidationError(f"{name} field value should be an integer >= {low}")
    if high is not None and number > high:
        raise ValidationError(f"{name} field value should be an integer <= {high}")
    return True


for _name, _low, _high in (
    ("priority", 0, None),
    ("backgroundRate", 0, 100),
    ("data_version", 1, None),
    ("rule_id", 0, None),
):
    _formats.checks(_name, raises=ValidationError)(
        lambda v, n=_name, lo=_low, hi=_high: _integer(n, v, lo, hi)
    )


@_formats.checks("ascii", raises=ValidationError)
def _ascii(value: Any) -> bool:
    if isinstance(value, str) and not value.isascii():
        raise ValidationError("value must be ascii")
    return True


def _domain_accepts(column: str, value: Any) -> bool:
    try:
        normalize_rule({column: value}, partial=True, admin_api=True)
    except Invalid:
        return False
    return True


def _operator_split(pattern: str) -> tuple[str, str] | None:
    """Balrog's ``get_op``: (operator, operand), or None when neither is found."""
    if pattern.endswith("*"):
        return "glob", pattern
    if re.match(r"\w+", pattern):
        return "==", pattern
    for op in (">=", ">", "<", "<="):
        found = re.match(rf"({op})([\.\w]+)", pattern)
        if found:
            return op, found.group(2)
    return None


@_formats.checks("version", raises=ValidationError)
def _version(value: Any) -> bool:
    """Balrog's version check and its messages (each comma-separated part in turn)."""
    if not isinstance(value, str) or value == "" or _domain_accepts("version", value):
        return True
    parts = value.split(",")
    for part in parts:
        split = _operator_split(part)
        if split is None:
            break
        if len(parts) > 1 and split[0] != "==":
            raise ValidationError(
                f"Invalid input for {value} .Relational Operators are not allowed"
                " when providing a list of versions."
            )
        if not _domain_accepts("version", split[1]):
            break
    # Balrog's version parser reports every other failure the same way.
    raise ValidationError(f"Invalid input for {value} . No Operator or Match found.")


@_formats.checks("buildID", raises=ValidationError)
def _build_id(value: Any) -> bool:
    if not isinstance(value, str) or value == "" or _domain_accepts("buildID", value):
        return True
    if _operator_split(value) is None:
        raise ValidationError(f"Invalid input for buildID : {value}. No Operator or Match found.")
    raise ValidationError("Invalid input for buildID: must be an integer.")


_CREATE = Draft4Validator(CREATE_SCHEMA, format_checker=_formats)
_UPDATE = Draft4Validator(UPDATE_SCHEMA, format_checker=_formats)


def _message(error: ValidationError) -> str:
    """The detail Balrog's body validator gives: the cause, the member, the error."""
    field = f"{error.path[-1]}: " if error.path else ""
    cause = error.cause
    prefix = f"{cause.message} " if isinstance(cause, ValidationError) else ""
    return f"{prefix}{field}{error.message}"


def checked_body(body: Any, *, update: bool) -> dict[str, Any]:
    """The body's rule members (and ``data_version``/``rule_id``), or Balrog's 400."""
    validator = _UPDATE if update else _CREATE
    if not isinstance(body, dict):
        raise Problem(400, f"{body!r} is not of type 'object'")
    for error in validator.iter_errors(body):
        raise Problem(400, _message(error))
    known = {*RULE_COLUMNS, "data_version", "rule_id"}
    return {k: v for k, v in body.items() if k in known}


def cleaned(value: Any) -> Any:
    """``process_rule_form``'s view of a value: strings stripped, empty ones null."""
    if isinstance(value, str):
        return value.strip() or None
    return value
