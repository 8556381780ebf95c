"""Why Balrog would refuse a release blob, worded as Balrog words it.

Balrog answers a refused blob with a list of errors: its JSON-schema
validator's message for each problem (``Blob.validate``). rulelog's schemas
accept and refuse the same blobs, but branch (``if``/``then``) where Balrog's
offer alternatives (``anyOf``), so the messages of a branch are reworded as
Balrog's single message for a part that fits no alternative.
"""

from __future__ import annotations

import re
from typing import Any

from jsonschema.validators import validator_for

from rulelog.domain.errors import Invalid
from rulelog.domain.serving.blobs.validation import SCHEMA_FILES, schema_for, validate_blob

__all__ = ["INVALID_BLOB", "blob_errors", "schema_messages", "shape_errors"]

#: Balrog's message for a blob its schema refuses (the reasons follow in ``exception``).
INVALID_BLOB = "Invalid blob! See 'errors' for details."


def blob_errors(blob: Any) -> list[str] | None:
    """Why Balrog would refuse ``blob`` (its type, then its content), or None."""
    errors = shape_errors(blob)
    if errors:
        return errors
    try:
        validate_blob(blob)
    except Invalid as error:
        return schema_messages(blob) or [_balrog_check_message(str(error))]
    return None


_HASH_LENGTH = re.compile(r"must be (\d+) characters long for (\w+), not \d+$")


def _balrog_check_message(message: str) -> str:
    """A blob class's own check (beyond the schema), as Balrog's class words it."""
    hashed = _HASH_LENGTH.search(message)
    if hashed:
        required, function = hashed.groups()
        return (
            f"The hashValue length is different from the required length of {required} "
            f"for {function}."
        )
    return message


def schema_messages(blob: dict[str, Any]) -> list[str]:
    """Balrog's list of errors: every JSON-schema message, as its validator words it."""
    schema = schema_for(blob["schema_version"])
    validator_class = validator_for(schema)
    validator = validator_class(schema, format_checker=validator_class.FORMAT_CHECKER)
    messages: list[str] = []
    for error in validator.iter_errors(blob):
        message = _alternatives_message(blob, error) or error.message
        if message not in messages:
            messages.append(message)
    return messages


#: Schema keywords whose next path element names a part of the instance.
_DESCENDING = {"properties", "patternProperties", "additionalProperties", "items", "prefixItems"}


def _alternatives_message(blob: dict[str, Any], error: Any) -> str | None:
    """Balrog's schemas offer alternatives (``anyOf``) where rulelog's branch (``if``).

    A part that fits none of Balrog's alternatives gets one message naming the
    whole part, so an error inside a branch is reported that way: the part the
    branch applies to, "is not valid under any of the given schemas". A
    superblob's alternatives are the whole blob.
    """
    if blob.get("schema_version") == 4000:
        return f"{blob!r} is not valid under any of the given schemas"
    path = list(error.absolute_schema_path)
    depth = 0
    for index, keyword in enumerate(path):
        if keyword in ("then", "else"):
            part: Any = blob
            for step in list(error.absolute_path)[:depth]:
                part = part[step]
            return f"{part!r} is not valid under any of the given schemas"
        if keyword in _DESCENDING and index + 1 < len(path):
            depth += 1
    return None


def shape_errors(blob: Any) -> list[str] | None:
    """Balrog's first check (``createBlob``): an object with a known schema_version."""
    if not isinstance(blob, dict):
        return ["the blob must be a JSON object"]
    version = blob.get("schema_version")
    if not version:
        return ["schema_version is not set"]
    try:
        known = not isinstance(version, bool) and version in SCHEMA_FILES
    except TypeError:  # unhashable
        known = False
    if not known:
        return ["schema_version is unknown"]
    return None
