"""How a refused blob is worded: one ``Invalid`` whose message is a single line
starting with the dotted path of the offending part of the blob, so the API
and CLI can show it as is."""

from __future__ import annotations

import re
import reprlib
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from jsonschema.exceptions import ValidationError, best_match, relevance

from rulelog.domain.errors import Invalid

#: Where in a blob: the keys and indexes from its top.
Path = tuple[str | int, ...]

#: What Balrog's own loops fail with on data of an unexpected type (so refuse the blob).
MALFORMED = (AttributeError, KeyError, TypeError)

_REPR = reprlib.Repr()
_REPR.maxstring = _REPR.maxother = 32
_REPR.maxlist = _REPR.maxdict = 3
_REPR.maxlevel = 2


def short(value: object) -> str:
    """A bounded repr, so one bad value can never turn a message into a page."""
    return _REPR.repr(value)


def json_type(value: object) -> str:
    """JSON's name for a Python value's type, for messages about the top level."""
    names = {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}
    if type(value) in names:
        return names[type(value)]
    return "number" if isinstance(value, (int, float)) else type(value).__name__


def _path_text(path: Iterable[str | int]) -> str:
    """Dotted path; odd keys (empty, newlines, ...) are quoted so the message stays one line."""
    return ".".join(_path_part(part) for part in path)


def _path_part(part: str | int) -> str:
    if isinstance(part, str) and not (part and part.isprintable()):
        return repr(part)
    return str(part)


def invalid(path: Path, message: str) -> Invalid:
    """Build the one-line ``blob: <path>: <problem>`` error used for every blob failure."""
    where = _path_text(path)
    text = f"blob: {where}: {message}" if where else f"blob: {message}"
    return Invalid(text, field="blob", path=where)


def schema_error(errors: list[ValidationError]) -> Invalid:
    """Turn jsonschema's errors into one Invalid naming the most useful one."""
    top = max(errors, key=relevance)
    if not (top.validator == "oneOf" and "x-message" in top.schema):
        top = best_match([top])
    message = _describe(top)
    if len(errors) > 1:
        others = len(errors) - 1
        message += f" (and {others} more problem{'s' if others > 1 else ''})"
    return invalid(tuple(top.absolute_path), message)


def _describe(error: ValidationError) -> str:
    """Phrase one schema violation without dumping the (possibly huge) instance."""
    keyword, expected, value = error.validator, error.validator_value, error.instance
    if keyword == "type":
        types = expected if isinstance(expected, list) else [expected]
        return f"{short(value)} is not of type {' or '.join(repr(t) for t in types)}"
    if keyword == "oneOf" and "x-message" in error.schema:
        return str(error.schema["x-message"])
    if keyword == "const":
        return f"must be {expected!r}, not {short(value)}"
    if keyword == "enum":
        return f"{short(value)} is not one of {expected!r}"
    if keyword == "pattern":
        return f"{short(value)} does not match {expected!r}"
    if keyword in ("minLength", "maxLength"):
        bound = "at least" if keyword == "minLength" else "at most"
        return f"{short(value)} must be {bound} {expected} characters long"
    if keyword == "additionalProperties" and isinstance(value, dict):
        extras = sorted(_extra_properties(value, error.schema), key=str)
        shown = ", ".join(repr(k) for k in extras[:5]) + (", ..." if len(extras) > 5 else "")
        noun = "property" if len(extras) == 1 else "properties"
        return f"unexpected {noun} {shown}"
    if keyword == "format":
        reason = f": {error.cause}" if error.cause else ""
        return f"{short(value)} is not a valid {expected}{reason}"
    message = error.message
    return message if len(message) <= 200 else message[:197] + "..."


def _extra_properties(instance: dict[str, Any], schema: Mapping[str, Any]) -> Iterator[str]:
    """Keys neither ``properties`` nor ``patternProperties`` cover (same rule as jsonschema)."""
    named = schema.get("properties", {})
    patterns = list(schema.get("patternProperties", {}))
    for key in instance:
        if key not in named and not any(re.search(p, key) for p in patterns):
            yield key
