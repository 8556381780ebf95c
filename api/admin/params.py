"""Balrog's wording for an integer parameter below its minimum.

Balrog's request validator (connexion + jsonschema) answers such a request
with the validator's full text: the message, then the parameter's swagger
definition pretty-printed, then the offending value. Clients that compare
problem documents see that text, so the definitions of the bounded
parameters are kept here (as Balrog's swagger spells them, ``required``
left out as its validator does) and the text is rebuilt from them.
"""

from __future__ import annotations

from pprint import pformat
from textwrap import indent
from typing import Any

__all__ = ["BOUNDED", "below_minimum"]

_PAGE = "Variable value used pagination of response revisions."
_LIMIT = "Variable value used for calculating offset for pagination."

#: (location, name) -> the parameter's definition in Balrog's swagger.
BOUNDED: dict[tuple[str, str], dict[str, Any]] = {
    ("query", "page"): {
        "name": "page",
        "in": "query",
        "description": _PAGE,
        "type": "integer",
        "minimum": 1,
        "x-nullable": True,
    },
    ("query", "limit"): {
        "name": "limit",
        "in": "query",
        "description": _LIMIT,
        "type": "integer",
        "minimum": 1,
        "x-nullable": True,
    },
    ("query", "data_version"): {
        "name": "data_version",
        "in": "query",
        "description": "data version of object.",
        "type": "integer",
        "format": "int32",
        "minimum": 1,
    },
    ("query", "rule_id"): {
        "name": "rule_id",
        "in": "query",
        "description": "A rule_id",
        "type": "integer",
        "minimum": 1,
    },
    ("path", "sc_id"): {
        "name": "sc_id",
        "in": "path",
        "description": "Field value to uniquely identfiy the scheduled change",
        "type": "integer",
        "minimum": 0,
    },
}


def below_minimum(location: str, name: str, value: int) -> str | None:
    """The validator's text when ``value`` is below the parameter's minimum, else None."""
    schema = BOUNDED.get((location, name))
    if schema is None or value >= schema["minimum"]:
        return None
    shown = indent(pformat(schema, width=72, sort_dicts=False), "    ")
    return (
        f"{value} is less than the minimum of {schema['minimum']}\n\n"
        f"Failed validating 'minimum' in schema:\n{shown}\n\nOn instance:\n    {value}"
    )
