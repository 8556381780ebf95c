"""The fast path: a schema compiled into one ``value -> bool`` closure.

jsonschema spends most of its time building per-node validator objects: about
0.6 ms for an average fixture blob, far more for a full Firefox release. Valid
blobs, nearly all of a bulk import, only need a yes/no answer, so each schema is
also compiled into plain closures over the keywords our schema files use, with
the Draft 2020-12 meaning jsonschema gives them (booleans are not numbers, const
True is not 1, ...). Only when that says "no" does jsonschema run, to find and
word the error; it stays the authority. A keyword the compiler does not know
fails at compile time rather than being silently ignored.
"""

from __future__ import annotations

import numbers
import re
from collections.abc import Callable
from typing import Any

from rulelog.domain.serving.blobs.formats import FORMAT_CHECKER

Check = Callable[[object], bool]

_TYPE_CHECKS: dict[str, Check] = {
    "object": lambda value: isinstance(value, dict),
    "array": lambda value: isinstance(value, list),
    "string": lambda value: isinstance(value, str),
    "boolean": lambda value: isinstance(value, bool),
    "number": lambda value: isinstance(value, numbers.Number) and not isinstance(value, bool),
}
_ANNOTATIONS = frozenset({"$schema", "$defs", "title", "description", "$comment", "x-message"})
_KEYWORDS = frozenset(
    {
        "$ref",
        "type",
        "const",
        "enum",
        "pattern",
        "minLength",
        "maxLength",
        "format",
        "required",
        "properties",
        "patternProperties",
        "additionalProperties",
        "items",
        "if",
        "then",
        "else",
        "oneOf",
    }
)


def _json_equal(value: object, expected: object) -> bool:
    """JSON Schema equality for scalar ``const``/``enum`` values: ``True`` is not ``1``."""
    if isinstance(value, bool) or isinstance(expected, bool):
        return value is expected
    return value == expected


def _all_of(checks: list[Check]) -> Check:
    if len(checks) == 1:
        return checks[0]

    def check(value: object) -> bool:
        return all(one(value) for one in checks)

    return check


def _object_check(
    required: list[str],
    properties: dict[str, Check],
    patterns: list[tuple[re.Pattern[str], Check]],
    closed: bool,
) -> Check:
    def check(value: object) -> bool:
        if not isinstance(value, dict):
            return True
        for key in required:
            if key not in value:
                return False
        for key, item in value.items():
            known = properties.get(key)
            matched = known is not None
            if known is not None and not known(item):
                return False
            for regex, sub in patterns:
                if regex.search(key):
                    matched = True
                    if not sub(item):
                        return False
            if closed and not matched:
                return False
        return True

    return check


class SchemaCompiler:
    """Turns one schema document into a single ``value -> bool`` closure."""

    def __init__(self, root: dict[str, Any]) -> None:
        self._root = root
        self._defs: dict[str, Any] = root.get("$defs", {})
        self._refs: dict[str, Check] = {}

    def compile(self) -> Check:
        return self._compile(self._root)

    def _ref(self, ref: str) -> Check:
        if not ref.startswith("#/$defs/"):
            raise ValueError(f"unsupported $ref {ref!r}")
        name = ref.removeprefix("#/$defs/")
        if name not in self._refs:
            self._refs[name] = lambda value: self._refs[name](value)  # for recursive defs
            self._refs[name] = self._compile(self._defs[name])
        return self._refs[name]

    def _compile(self, schema: dict[str, Any]) -> Check:
        unknown = set(schema) - _KEYWORDS - _ANNOTATIONS
        if unknown:
            raise ValueError(f"fast path does not implement {sorted(unknown)}")
        checks: list[Check] = []
        if "$ref" in schema:
            checks.append(self._ref(schema["$ref"]))
        if "type" in schema:
            names = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
            preds = [_TYPE_CHECKS[n] for n in names]
            checks.append(preds[0] if len(preds) == 1 else lambda v: any(p(v) for p in preds))
        if "const" in schema:
            checks.append(lambda v, c=schema["const"]: _json_equal(v, c))
        if "enum" in schema:
            checks.append(lambda v, cs=schema["enum"]: any(_json_equal(v, c) for c in cs))
        if "pattern" in schema:
            regex = re.compile(schema["pattern"])
            checks.append(lambda v: not isinstance(v, str) or regex.search(v) is not None)
        if "minLength" in schema or "maxLength" in schema:
            low, high = schema.get("minLength", 0), schema.get("maxLength", float("inf"))
            checks.append(lambda v: not isinstance(v, str) or low <= len(v) <= high)
        if "format" in schema:
            checks.append(lambda v, f=schema["format"]: FORMAT_CHECKER.conforms(v, f))
        extra = schema.get("additionalProperties", True)
        if extra is not True and extra is not False:
            raise ValueError("fast path only implements additionalProperties true/false")
        if {"required", "properties", "patternProperties"} & set(schema) or extra is False:
            checks.append(
                _object_check(
                    list(schema.get("required", ())),
                    {k: self._compile(s) for k, s in schema.get("properties", {}).items()},
                    [
                        (re.compile(p), self._compile(s))
                        for p, s in schema.get("patternProperties", {}).items()
                    ],
                    extra is False,
                )
            )
        if "items" in schema:
            item = self._compile(schema["items"])
            checks.append(lambda v: not isinstance(v, list) or all(item(i) for i in v))
        if "if" in schema:
            test = self._compile(schema["if"])
            then = self._compile(schema.get("then", {}))
            other = self._compile(schema.get("else", {}))
            checks.append(lambda v: then(v) if test(v) else other(v))
        if "oneOf" in schema:
            branches = [self._compile(s) for s in schema["oneOf"]]
            checks.append(lambda v: sum(1 for b in branches if b(v)) == 1)
        return _all_of(checks) if checks else (lambda v: True)
